"""Drawing reports, lr_find plots and augmentation previews never switches the user's matplotlib backend.

Each picture is a ``Figure`` on its own Agg canvas (no pyplot), so a Jupyter inline backend or a GUI
backend chosen by the user stays chosen, and pyplot's list of open figures stays empty.
"""
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("matplotlib")

SCRIPT = textwrap.dedent("""
    import sys
    import matplotlib
    matplotlib.use("svg")                       # the user's choice, made before gradwise is imported
    import matplotlib.pyplot as plt
    import numpy as np

    import gradwise
    import gradwise.report
    import gradwise.report.plots
    from gradwise import nn
    from gradwise.augment import preview
    from gradwise.augment.vision import RandomHorizontalFlip
    from gradwise.train import fit, lr_find

    assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    gradwise.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    run = sys.argv[1]
    fit(model, (x[:48], y[:48]), (x[48:], y[48:]), loss="cross_entropy", optimizer="adam", epochs=2,
        batch_size=16, log_dir=run, progress=False)
    page = gradwise.report.render(run)                 # every picture of the report
    assert "data:image/png;base64," in page.read_text()
    result = lr_find(model, (x, y), "cross_entropy", num_steps=12, batch_size=16)
    result.plot(run + "/lr_find.png")
    preview(RandomHorizontalFlip(), rng.random((3, 8, 8)), n=2, path=run + "/preview.png", seed=0)
    preview(lambda s: s.upper(), "please close the door", n=2, path=run + "/text.png", seed=0)
    assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
    assert plt.get_fignums() == [], plt.get_fignums()
    print("ok")
""")


def test_rendering_keeps_the_users_backend_and_leaves_no_pyplot_figure(tmp_path):
    script = tmp_path / "draw.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "run")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
    for name in ("report.html", "lr_find.png", "preview.png", "text.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0


def test_no_matplotlib_use_or_pyplot_in_the_drawing_modules():
    from pathlib import Path

    import gradwise

    root = Path(gradwise.__file__).parent
    for rel in ("report/plots.py", "report/html.py", "train/lr_find.py", "augment/preview.py", "solvers/playground.py"):
        text = (root / rel).read_text()
        for banned in ("matplotlib.use(", "import matplotlib.pyplot", "from matplotlib import pyplot", "plt."):
            assert banned not in text, (rel, banned)
