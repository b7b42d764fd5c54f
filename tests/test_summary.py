"""gradwise.summary: torchinfo's table, totals and memory estimate for gradwise and PyTorch models."""
import subprocess
import sys

import numpy as np
import pytest

import gradwise
import gradwise.nn as gnn

torch = pytest.importorskip("torch")
tnn = torch.nn

COLS = ("input_size", "output_size", "kernel_size", "num_params", "params_percent", "mult_adds", "trainable")


def _models(nn, lib):
    """The same three architectures in either framework (same names, same shapes, same parameters)."""
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                                          nn.Conv2d(6, 16, 5, padding=1), nn.ReLU())
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(16 * 10 * 10, 32), nn.LayerNorm(32), nn.Dropout(),
                                      nn.Linear(32, 10))

        def forward(self, x):
            return self.head(self.features(x))

    class Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(100, 8)
            self.blocks = nn.ModuleList([nn.Sequential(nn.Linear(8, 8), nn.GELU()) for _ in range(2)])
            self.out = nn.Linear(8, 3)

        def forward(self, x):
            x = self.emb(x)
            for block in self.blocks:
                x = block(x)
            return self.out(x)

    up = nn.Sequential(nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), nn.GroupNorm(2, 4),
                       nn.SiLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    return Net(), Seq(), up


CASES = [(0, {"input_size": (4, 1, 28, 28)}), (1, {"input_size": (2, 7), "dtypes": "long"}),
         (2, {"input_size": (2, 3, 5, 6)})]


def _kw(kw, lib):
    kw = dict(kw)
    if kw.get("dtypes") == "long":
        kw["dtypes"] = [lib.long]
    return kw


@pytest.mark.parametrize("index,kw", CASES)
def test_gradwise_and_torch_twins_give_the_same_table(index, kw):
    t_model, g_model = _models(tnn, torch)[index], _models(gnn, gradwise)[index]
    a = gradwise.summary(t_model, verbose=0, col_names=COLS, **_kw(kw, torch))
    b = gradwise.summary(g_model, verbose=0, col_names=COLS, **_kw(kw, gradwise))
    assert str(a) == str(b)
    assert (a.total_params, a.trainable_params, a.total_mult_adds, a.total_output_bytes, a.total_param_bytes,
            a.total_input) == (b.total_params, b.trainable_params, b.total_mult_adds, b.total_output_bytes,
                               b.total_param_bytes, b.total_input)


def test_conv_bn_linear_layernorm_numbers_by_hand():
    net = _models(gnn, gradwise)[0]
    s = gradwise.summary(net, input_size=(4, 1, 28, 28), verbose=0)
    rows = {(r.class_name, r.depth_index): r for r in s.summary_list}
    conv1, bn, conv2 = rows["Conv2d", 1], rows["BatchNorm2d", 2], rows["Conv2d", 5]
    lin1, ln, lin2 = rows["Linear", 8], rows["LayerNorm", 9], rows["Linear", 11]
    assert conv1.output_size == [4, 6, 24, 24] and conv1.num_params == 6 * 25 + 6
    assert conv1.macs == (6 * 25 + 6) * 4 * 24 * 24          # params x batch x output positions (C ignored)
    assert conv2.macs == (16 * 6 * 25 + 16) * 4 * 10 * 10
    assert bn.macs == 4 * 2 * 6                                # batch x (weight + bias)
    assert lin1.macs == 4 * (1600 * 32 + 32) and lin2.macs == 4 * (32 * 10 + 10)
    assert ln.macs == 4 * 2 * 32
    for name in ("ReLU", "MaxPool2d", "Flatten", "Dropout"):
        assert all(r.macs == 0 for r in s.summary_list if r.class_name == name)
    assert s.total_mult_adds == sum(r.macs for r in s.summary_list if r.is_leaf_layer)
    assert s.total_params == 156 + 12 + 2416 + 51232 + 64 + 330
    # memory: the input, twice the outputs of the layers with weights (forward + gradient), the parameters
    assert s.total_input == 4 * 28 * 28 * 4
    weighted = [conv1, bn, conv2, lin1, ln, lin2]
    assert s.total_output_bytes == 2 * 4 * sum(int(np.prod(r.output_size)) for r in weighted)
    assert s.total_param_bytes == 4 * s.total_params
    text = str(s)
    assert "Total mult-adds (M): 1.53" in text and "Estimated Total Size (MB): 0.50" in text
    assert "│    └─Conv2d: 2-1" in text and "Total params: 54,210" in text


def test_embedding_counts_no_mult_adds_and_linear_counts_every_row():
    s = gradwise.summary(_models(gnn, gradwise)[1], input_size=(2, 7), dtypes=[gradwise.int64], verbose=0)
    rows = {r.class_name + str(r.depth_index): r for r in s.summary_list}
    assert rows["Embedding1"].macs == 0 and rows["Embedding1"].num_params == 800
    assert rows["Linear1"].output_size == [2, 7, 8]
    assert rows["Linear1"].macs == 2 * 7 * (8 * 8 + 8)          # every (batch, step) row, as torchinfo PR #318
    assert rows["Linear3"].macs == 2 * 7 * (8 * 3 + 3)


def test_table_matches_torchinfo():
    torchinfo = pytest.importorskip("torchinfo")
    t_net, _, t_up = _models(tnn, torch)
    t_net.features[0].requires_grad_(False)
    for model, kw in [(t_net, {"input_size": (4, 1, 28, 28)}),
                      (t_net, {"input_size": (1, 28, 28), "batch_dim": 0, "depth": 1}),
                      (t_up, {"input_size": (2, 3, 5, 6), "row_settings": ("ascii_only", "var_names")})]:
        ours = str(gradwise.summary(model, verbose=0, col_names=COLS, **kw))
        theirs = str(torchinfo.summary(model, verbose=0, col_names=COLS, **kw))
        # torchinfo 1.8.0 on Python >= 3.11 formats its unit enum as "Units.MEGABYTES"
        assert ours == theirs.replace("(Units.MEGABYTES)", "(M)").replace("(Units.GIGABYTES)", "(G)")
    verbose = gradwise.summary(t_net, input_size=(1, 28, 28), batch_dim=0, depth=1, verbose=0, col_names=COLS)
    verbose.verbose = 2
    theirs = torchinfo.summary(t_net, input_size=(1, 28, 28), batch_dim=0, depth=1, verbose=0, col_names=COLS)
    theirs.formatting.verbose = 2
    assert str(verbose) == str(theirs).replace("(Units.MEGABYTES)", "(M)")
    assert "│    └─0.weight" in str(verbose) and "Partial" in str(verbose)


def test_torchinfo_conventions_on_a_torch_sequence_model_differ_only_where_documented():
    torchinfo = pytest.importorskip("torchinfo")
    seq = _models(tnn, torch)[1]
    ours = gradwise.summary(seq, input_size=(2, 7), dtypes=[torch.long], verbose=0)
    theirs = torchinfo.summary(seq, input_size=(2, 7), dtypes=[torch.long], verbose=0)
    assert ours.total_params == theirs.total_params
    for a, b in zip(ours.summary_list, theirs.summary_list):
        assert (a.class_name, a.output_size, a.num_params) == (b.class_name, b.output_size, b.num_params)
        if a.class_name == "Embedding":
            assert (a.macs, b.macs) == (0, 2 * 800)
        elif a.class_name == "Linear":
            assert a.macs == 7 * b.macs                      # torchinfo 1.8.0 counts the batch only


def test_modes_grad_and_hooks_are_put_back():
    model = _models(gnn, gradwise)[0]
    model.train()
    model.head.eval()                               # a mixed state must survive
    before = [(m, m.training) for m in model.modules()]
    s = gradwise.summary(model, input_size=(2, 1, 28, 28), verbose=0, mode="train")
    assert [(m, m.training) for m in model.modules()] == before
    assert all(p.grad is None for p in model.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    assert gradwise.is_grad_enabled()
    t_model = _models(tnn, torch)[0]
    t_model.features.eval()
    t_before = [m.training for m in t_model.modules()]
    gradwise.summary(t_model, input_size=(2, 1, 28, 28), verbose=0)
    assert [m.training for m in t_model.modules()] == t_before
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in t_model.modules())
    assert s.trainable_params == s.total_params


def test_recursive_modules_and_never_called_containers():
    class Rec(gnn.Module):
        def __init__(self):
            super().__init__()
            self.lin = gnn.Linear(8, 8)
            self.blocks = gnn.ModuleList([gnn.Sequential(gnn.Linear(8, 8), gnn.Tanh()) for _ in range(2)])

        def forward(self, x):
            x = self.lin(self.lin(x))
            for b in self.blocks:
                x = b(x)
            return x

    s = gradwise.summary(Rec(), input_size=(3, 8), verbose=0)
    names = [r.layer_name(False, True) for r in s.summary_list]
    assert names == ["Rec", "Linear: 1-1", "Linear: 1-2", "ModuleList: 1-3", "Sequential: 2-1", "Linear: 3-1",
                     "Tanh: 3-2", "Sequential: 2-2", "Linear: 3-3", "Tanh: 3-4"]
    assert s.summary_list[2].is_recursive and "(recursive)" in str(s)
    assert s.total_params == 3 * 72                  # the reused layer counted once
    assert s.total_mult_adds == 4 * 3 * 72           # ...but its mult-adds twice


def test_batch_dim_input_data_dtype_and_no_input():
    model = gnn.Sequential(gnn.Linear(5, 4), gnn.ReLU(), gnn.Linear(4, 2)).double()
    s = gradwise.summary(model, input_size=(5,), batch_dim=0, verbose=0)   # float64 input: the model's dtype
    assert s.summary_list[-1].output_size == [1, 2] and s.total_input == 5 * 8
    assert s.total_mult_adds == (5 * 4 + 4) + (4 * 2 + 2)
    d = gradwise.summary(model, input_data=np.ones((3, 5)), verbose=0)
    assert d.summary_list[1].output_size == [3, 4] and d.input_size == (3, 5)
    bare = gradwise.summary(model, verbose=0)
    assert bare.total_params == 34 and "Total mult-adds" not in str(bare) and "Output Shape" not in str(bare)
    info = s.to_dict()
    assert info["total_params"] == 34 and info["layers"][1]["macs"] == 24
    assert s.short() == "34 parameters (34 trainable), 34 mult-adds per sample of shape [5]"
    big = gradwise.summary(_models(gnn, gradwise)[0], input_size=(4, 1, 28, 28), verbose=0)
    assert big.short() == "54,210 parameters (54,210 trainable), 1.53 M mult-adds for an input of shape [4, 1, 28, 28]"


def test_verbose_prints_and_depth_limits(capsys):
    model = _models(gnn, gradwise)[0]
    gradwise.summary(model, input_size=(1, 1, 28, 28), verbose=0)
    assert capsys.readouterr().out == ""
    s = gradwise.summary(model, input_size=(1, 1, 28, 28), verbose=1, depth=1)
    out = capsys.readouterr().out
    assert out.strip() == str(s) and "Conv2d" not in out and "Sequential: 1-1" in out
    gradwise.summary(model, input_size=(1, 1, 28, 28), verbose=2, depth=1)
    assert "0.weight" in capsys.readouterr().out


def test_errors():
    model = gnn.Sequential(gnn.Linear(5, 4))
    with pytest.raises(ValueError, match="unknown column"):
        gradwise.summary(model, input_size=(2, 5), col_names=["params"], verbose=0)
    with pytest.raises(ValueError, match="not both"):
        gradwise.summary(model, input_size=(2, 5), input_data=np.ones((2, 5)), verbose=0)
    with pytest.raises(ValueError, match="need input_size"):
        gradwise.summary(model, col_names=["output_size"], verbose=0)
    with pytest.raises(ValueError, match="positive integers"):
        gradwise.summary(model, input_size=(2, 0), verbose=0)
    with pytest.raises(RuntimeError, match=r"forward pass of Sequential failed on input \[\(2, 7\)\]"):
        gradwise.summary(model, input_size=(2, 7), verbose=0)
    assert not model[0]._forward_hooks and model.training


def test_summary_is_lazy_and_import_gradwise_never_imports_torch():
    code = ("import sys, gradwise; assert 'gradwise.model_summary' not in sys.modules; "
            "s = gradwise.summary(gradwise.nn.Linear(3, 2), input_size=(1, 3), verbose=0); "
            "assert s.total_params == 8; assert 'torch' not in sys.modules; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_gradwise_train_prints_the_short_summary(tmp_path, capsys):
    from gradwise.cli.main import main

    config = tmp_path / "run.toml"
    config.write_text("[data]\nlimit = 200\n[model]\nhidden = [16]\n[train]\nepochs = 1\nbatch_size = 64\n")
    assert main(["train", str(config), "--out", str(tmp_path / "run"), "--no-report", "--no-babysit"]) == 0
    out = capsys.readouterr().out
    params = 64 * 16 + 16 + 16 * 10 + 10
    assert f"  {params:,} parameters ({params:,} trainable), {params:,} mult-adds per sample of shape [1, 8, 8]" in out
