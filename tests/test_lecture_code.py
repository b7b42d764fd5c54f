"""The lecture's PyTorch code runs unchanged after swapping the imports (issue #2, item 7)."""
import numpy as np

import gradwise as torch
import gradwise.nn as nn
import gradwise.nn.functional as F
from gradwise.autograd import Variable


# --- verbatim from the lecture ("Backpropagation in PyTorch") ------------------------------
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1) # flatten all dimensions except batch
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x


net = Net()
# -------------------------------------------------------------------------------------------


def test_lecture_net_trains_on_cifar_shaped_input():
    torch.manual_seed(0)
    model = Net()
    inputs = torch.randn(16, 3, 32, 32)
    labels = torch.randint(0, 10, (16,))
    criterion = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for _ in range(80):
        optimizer.zero_grad()
        loss = criterion(model(inputs), labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert model(inputs).shape == (16, 10)
    assert abs(losses[0] - np.log(10)) < 0.5          # a sane first loss
    assert losses[-1] < 0.5 * losses[0]               # it can overfit one batch
    names = [name for name, _ in model.named_parameters()]
    assert names == ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias",
                     "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"]


def test_lecture_net_matches_pytorch():
    import torch as real_torch

    ours = Net().double()
    theirs = real_torch.nn.Sequential()  # built from the same lecture code with real torch
    ns = {"nn": real_torch.nn, "F": real_torch.nn.functional, "torch": real_torch}
    exec(compile(_NET_SOURCE, "lecture", "exec"), ns)
    theirs = ns["Net"]().double()
    theirs.load_state_dict({k: real_torch.from_numpy(v.numpy().copy()) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32))
    out = ours(torch.tensor(x))
    ref = theirs(real_torch.tensor(x))
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


_NET_SOURCE = '''
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = self.fc3(x)
        return x
'''


def test_lecture_variable_snippet_builds_a_graph_on_the_fly():
    # verbatim from the lecture ("A graph is created on the fly")
    x = Variable(torch.randn(1, 10))
    prev_h = Variable(torch.randn(1, 20))
    W_h = Variable(torch.randn(20, 20))
    W_x = Variable(torch.randn(20, 10))
    # and the rest of PyTorch's classic example
    i2h = torch.mm(W_x, x.t())
    h2h = torch.mm(W_h, prev_h.t())
    next_h = i2h + h2h
    next_h = next_h.tanh()
    assert next_h.shape == (20, 1)
    W_h.requires_grad_(True)
    next_h = (torch.mm(W_x, x.t()) + torch.mm(W_h, prev_h.t())).tanh()
    next_h.backward(torch.ones(20, 1))
    expected = (1 - next_h.detach().numpy() ** 2) @ prev_h.numpy()
    np.testing.assert_allclose(W_h.grad.numpy(), expected, rtol=1e-5)
    assert isinstance(Variable(torch.randn(2), requires_grad=True), torch.Tensor)
