"""The solver playground: landscapes (gradients, minima), the stories the pictures tell, files, CLI."""
from __future__ import annotations

import numpy as np
import pytest

from gradwise import optim
from gradwise.cli.main import main as cli_main
from gradwise.solvers import LANDSCAPES, SOLVERS, get_landscape, playground
from gradwise.solvers.landscapes import KAPPA

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _finite_difference_grad(land, point, h=1e-6):
    x, y = point
    return np.array([(land(x + h, y) - land(x - h, y)) / (2 * h), (land(x, y + h) - land(x, y - h)) / (2 * h)])


def _hessian(land, point, h=1e-4):
    def grad(p):
        return land.value_and_grad(p)[1]

    x, y = point
    columns = [(grad((x + h, y)) - grad((x - h, y))) / (2 * h), (grad((x, y + h)) - grad((x, y - h))) / (2 * h)]
    return np.array(columns).T


@pytest.mark.parametrize("name", list(LANDSCAPES))
def test_autograd_gradient_matches_finite_differences(name):
    land = LANDSCAPES[name]
    rng = np.random.default_rng(1)
    for _ in range(5):
        point = (rng.uniform(*land.xlim), rng.uniform(*land.ylim))
        value, grad = land.value_and_grad(point)
        assert value == pytest.approx(float(land(*point)), rel=1e-12)
        np.testing.assert_allclose(grad, _finite_difference_grad(land, point), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", list(LANDSCAPES))
def test_known_minima_are_global_minima(name):
    land = LANDSCAPES[name]
    for minimum in land.minima:
        value, grad = land.value_and_grad(minimum)
        assert value == pytest.approx(land.min_value, abs=1e-12)
        np.testing.assert_allclose(grad, 0.0, atol=1e-9)
        assert np.all(np.linalg.eigvalsh(_hessian(land, minimum)) > 0)
    grid_x, grid_y = np.meshgrid(np.linspace(*land.xlim, 301), np.linspace(*land.ylim, 301))
    assert np.min(land(grid_x, grid_y)) >= land.min_value - 1e-12


def test_ill_conditioned_quadratic_has_the_condition_number_in_its_title():
    land = LANDSCAPES["ill_conditioned"]
    eigenvalues = np.linalg.eigvalsh(_hessian(land, (0.3, -0.2)))
    assert eigenvalues.max() / eigenvalues.min() == pytest.approx(KAPPA, rel=1e-6)
    assert f"{KAPPA:g}" in land.title and "condition number" in land.title


def test_saddle_point_and_local_minimum_landmarks():
    saddle = LANDSCAPES["saddle"]
    (label, point), = saddle.landmarks
    eigenvalues = np.linalg.eigvalsh(_hessian(saddle, point))
    assert label == "saddle point" and eigenvalues.min() < 0 < eigenvalues.max()
    np.testing.assert_allclose(saddle.value_and_grad(point)[1], 0.0, atol=1e-12)
    wells = LANDSCAPES["local_minima"]
    (label, point), = wells.landmarks
    value, grad = wells.value_and_grad(point)
    np.testing.assert_allclose(grad, 0.0, atol=1e-9)
    assert label == "local minimum" and value > wells.min_value + 0.5


def _by_solver(table):
    return {row["solver"]: row for row in table}


def test_saddle_story_gd_stalls_while_noise_momentum_and_adam_escape():
    rows = _by_solver(playground(landscape="saddle", path=None, show_table=False))
    assert abs(rows["GD"]["final_y"]) < 0.1 and rows["GD"]["steps_to_tol"] is None  # still at the saddle
    for name in ("SGD", "SGD+Momentum", "Adam"):
        assert rows[name]["distance_to_min"] < 0.15, name


def test_ill_conditioned_story_gd_crawls_momentum_and_adam_arrive():
    rows = _by_solver(playground(["GD", "SGD+Momentum", "Adam"], landscape="ill_conditioned", path=None,
                                 show_table=False))
    assert rows["GD"]["steps_to_tol"] is None
    assert rows["SGD+Momentum"]["steps_to_tol"] is not None and rows["Adam"]["steps_to_tol"] is not None


def test_local_minima_story_momentum_rolls_into_the_deeper_well():
    rows = _by_solver(playground(["GD", "SGD+Momentum"], landscape="local_minima", path=None, show_table=False))
    assert rows["GD"]["final_x"] > 0.5  # stuck in the shallower well
    assert rows["SGD+Momentum"]["steps_to_tol"] is not None


def test_bumpy_story_noise_gets_further_than_gd():
    rows = _by_solver(playground(["GD", "SGD"], landscape="bumpy", path=None, show_table=False))
    gd, sgd = rows["GD"], rows["SGD"]
    assert gd["noise"] == 0 and sgd["noise"] > 0
    assert gd["distance_to_min"] > 4.0  # stopped in a pit near the start
    assert sgd["distance_to_min"] < gd["distance_to_min"] / 2


def test_rosenbrock_lbfgs_is_fastest():
    rows = _by_solver(playground(["GD", "Adam", "LBFGS"], landscape="rosenbrock", steps=200, path=None,
                                 show_table=False))
    assert rows["LBFGS"]["steps_to_tol"] is not None and rows["LBFGS"]["steps_to_tol"] < 60
    assert rows["GD"]["steps_to_tol"] is None


def test_playground_table_png_and_gif(tmp_path, capsys):
    png, gif = tmp_path / "paths.png", tmp_path / "paths.gif"
    table = playground(("SGD", "SGD+Momentum", "Adam"), landscape="rosenbrock", start=(-1.0, 1.5), steps=40,
                       path=png, gif=gif, tol=1.0)
    assert [row["solver"] for row in table] == ["SGD", "SGD+Momentum", "Adam"]
    for row in table:
        assert set(row) >= {"solver", "optimizer", "lr", "steps_to_tol", "final_loss", "final_x", "final_y",
                            "distance_to_min", "diverged"}
        assert np.isfinite(row["final_loss"])
    assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 10_000
    assert gif.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    printed = capsys.readouterr().out
    assert "steps to tol" in printed and "SGD+Momentum" in printed


def test_solver_specs_and_errors():
    table = playground({"slow": (optim.SGD, {"lr": 1e-4}), "heavy": (optim.SGD, {"lr": 1e-3, "momentum": 0.9})},
                       landscape="rosenbrock", steps=5, noise=0.0, path=None, show_table=False)
    assert [row["solver"] for row in table] == ["slow", "heavy"] and table[0]["lr"] == 1e-4
    table = playground("gd, nesterov", landscape="saddle", steps=5, path=None, show_table=False)
    assert [row["solver"] for row in table] == ["GD", "Nesterov"]
    with pytest.raises(ValueError, match="unknown solver"):
        playground(["Newton"], path=None)
    with pytest.raises(ValueError, match="unknown landscape"):
        get_landscape("himalaya")
    assert set(SOLVERS) >= {"GD", "SGD", "SGD+Momentum", "Adam", "LBFGS", "RMSprop", "Adagrad"}


def test_every_optimizer_runs_in_the_playground():
    table = playground(list(SOLVERS), landscape="ill_conditioned", steps=10, path=None, show_table=False)
    assert len(table) == len(SOLVERS)
    assert all(np.isfinite(row["final_loss"]) for row in table)


def test_divergence_is_reported():
    (row,) = playground({"GD": (optim.SGD, {"lr": 1.0}, False)}, landscape="rosenbrock", steps=50, path=None,
                        show_table=False)
    assert row["diverged"] and row["steps_to_tol"] is None


def test_cli_solvers(tmp_path, capsys):
    out = tmp_path / "cli.png"
    assert cli_main(["solvers", "--landscape", "saddle", "--solvers", "GD,Adam", "--steps", "15",
                     "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == PNG_SIGNATURE
    printed = capsys.readouterr().out
    assert "steps to tol" in printed and f"wrote {out}" in printed
    assert cli_main(["solvers", "--start", "1;2", "--out", str(out)]) == 2
    assert cli_main(["solvers", "--solvers", "Newton", "--steps", "3", "--out", str(out)]) == 2


def test_cli_all_landscapes(tmp_path):
    out = tmp_path / "all.png"
    assert cli_main(["solvers", "--landscape", "all", "--solvers", "GD", "--steps", "3", "--noise", "0",
                     "--out", str(out)]) == 0
    for name in LANDSCAPES:
        assert (tmp_path / f"all_{name}.png").exists()
