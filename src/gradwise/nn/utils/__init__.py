"""`gradwise.nn.utils`: helpers around modules and gradients (gradient clipping, ...)."""
from gradwise.nn.utils.clip_grad import (clip_grad_norm, clip_grad_norm_, clip_grad_value_, clip_grads_with_norm_,
                                         get_total_norm)
