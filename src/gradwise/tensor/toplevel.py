"""PyTorch's tensor functions (`gradwise.exp(x)` ...): each is the Tensor method of that name."""
from __future__ import annotations

from gradwise.tensor.tensor import Tensor, as_tensor


def _method(name: str):
    def function(input, *args, **kwargs):
        return getattr(as_tensor(input), name)(*args, **kwargs)

    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"`gradwise.{name}(input, ...)` is `input.{name}(...)`; see `Tensor.{name}`."
    return function


abs = _method("abs")
exp = _method("exp")
log = _method("log")
log1p = _method("log1p")
sqrt = _method("sqrt")
rsqrt = _method("rsqrt")
sin = _method("sin")
cos = _method("cos")
square = _method("square")
tanh = _method("tanh")
sigmoid = _method("sigmoid")
relu = _method("relu")
clamp = _method("clamp")
clip = _method("clamp")
maximum = _method("maximum")
minimum = _method("minimum")
add = _method("add")
sub = _method("sub")
mul = _method("mul")
div = _method("div")
pow = _method("pow")
neg = _method("neg")
matmul = _method("matmul")
mm = _method("mm")
bmm = _method("bmm")
sum = _method("sum")
mean = _method("mean")
var = _method("var")
std = _method("std")
max = _method("max")
min = _method("min")
amax = _method("amax")
amin = _method("amin")
argmax = _method("argmax")
argmin = _method("argmin")
logsumexp = _method("logsumexp")
softmax = _method("softmax")
log_softmax = _method("log_softmax")
prod = _method("prod")
reshape = _method("reshape")
flatten = _method("flatten")
transpose = _method("transpose")
t = _method("t")
permute = _method("permute")
unsqueeze = _method("unsqueeze")
squeeze = _method("squeeze")
split = _method("split")
chunk = _method("chunk")
unbind = _method("unbind")
flip = _method("flip")
narrow = _method("narrow")
clone = _method("clone")
isnan = _method("isnan")
isfinite = _method("isfinite")
allclose = _method("allclose")
equal = _method("equal")
sign = _method("sign")
masked_fill = _method("masked_fill")
eq = _method("eq")
ne = _method("ne")
lt = _method("lt")
le = _method("le")
gt = _method("gt")
ge = _method("ge")


def numel(input: Tensor) -> int:
    return input.numel()


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)
