"""A shorter forward for peft's LoRA linear layers in their common case: one plain LoRA adapter, not merged.

peft's ``lora.Linear.forward`` casts its input to the adapter weights' dtype before the adapter branch: under
bf16 autocast that is an fp32 copy of every activation entering an adapted layer, dropout on that fp32 copy, a
cast back to bf16 inside ``lora_A``, then a separate scaling multiply and add, each with its backward. MiniLM-L6
with LoRA on its 36 projections runs about a hundred such extra element-wise passes per step, and on a CPU at
batch 16 each costs about as much as a small matmul. The lean forward computes the same expression,
``base(x) + scaling * B(A(dropout(x)))``, on ``x`` as it arrives, with the scaling folded into the add
(``torch.add(..., alpha=scaling)``). Under autocast the adapter's dropout then runs on the bf16 input, so its
keep scale is rounded to bf16 (1/0.9 becomes 1.109375), as ATen's dropout and `FastDropout` do for any bf16
tensor. Any other case (adapters disabled or merged, several active adapters, a
variant such as DoRA, per-example ``adapter_names``, or an input dtype the adapter weights do not match outside
autocast) goes to peft's own forward.

In training under bf16 autocast on a CPU, a frozen ``nn.Linear`` base layer also runs on a bf16 copy of its
weight and bias made once (`frozen_bf16`), instead of autocast casting the fp32 weight on every call: for
MiniLM-L6 that is 10.6M weights read in fp32 and written in bf16 every step for nothing, since they never change.
The numbers are autocast's: it rounds the same fp32 values to bf16 the same way. The copy is remade when the
weight is replaced or modified in place through autograd-visible ops (``load_state_dict``, ``copy_``).

Installed by the training session (`TrainingSession.start`); measured with ``bench/speed_ab.py lean-lora`` and
``frozen-bf16-lora``: docs/benchmarks.md, "Speed".
"""

from __future__ import annotations

import types

import torch
from peft.tuners.lora.layer import Linear as LoraLinear
from torch import nn

CACHE_FROZEN_BASE = True  # frozen base weights as bf16 copies made once; bench/speed_ab.py turns it off to measure it


def use_lean_lora_forward(model: nn.Module) -> list[LoraLinear]:
    """Give every peft ``lora.Linear`` in ``model`` the lean forward (an instance attribute, so state dicts, saving
    and merging are unchanged); returns the layers changed."""
    layers = [module for module in model.modules() if type(module) is LoraLinear]
    for layer in layers:
        layer.forward = types.MethodType(lean_lora_forward, layer)
    return layers


def lean_lora_forward(self: LoraLinear, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """``base_layer(x) + scaling * lora_B(lora_A(lora_dropout(x)))`` for the single active adapter."""
    adapters = self.active_adapters
    if args or kwargs or self.disable_adapters or self.merged or len(adapters) != 1:
        return LoraLinear.forward(self, x, *args, **kwargs)
    name = adapters[0]
    if name not in self.lora_A or name in self.lora_variant:
        return LoraLinear.forward(self, x, *args, **kwargs)
    down = self.lora_A[name]
    if x.dtype != down.weight.dtype and not torch.is_autocast_enabled(x.device.type):
        return LoraLinear.forward(self, x, *args, **kwargs)
    update = self.lora_B[name](down(self.lora_dropout[name](x)))
    return torch.add(_base_output(self, x), update, alpha=self.scaling[name])


def _base_output(self: LoraLinear, x: torch.Tensor) -> torch.Tensor:
    """``base_layer(x)``, on `frozen_bf16` copies of a frozen plain Linear's tensors in bf16 CPU autocast training."""
    base = self.base_layer
    if not (CACHE_FROZEN_BASE and self.training and type(base) is nn.Linear and not base.weight.requires_grad
            and x.device.type == "cpu" and torch.is_autocast_enabled("cpu")
            and torch.get_autocast_dtype("cpu") == torch.bfloat16):
        return base(x)
    if base._forward_hooks or base._forward_pre_hooks or "forward" in vars(base):
        return base(x)
    bias = base.bias if base.bias is None or base.bias.requires_grad else frozen_bf16(base, "bias")
    return nn.functional.linear(x, frozen_bf16(base, "weight"), bias)


def frozen_bf16(module: nn.Module, name: str) -> torch.Tensor:
    """A bf16 copy of ``module``'s frozen tensor ``name``, kept on the module (outside its state dict) and remade
    when the tensor is replaced or its version counter moves."""
    tensor = getattr(module, name)
    key = (tensor.data_ptr(), tensor._version)
    cached = module.__dict__.get(f"_frozen_bf16_{name}")
    if cached is None or cached[0] != key:
        cached = (key, tensor.detach().to(torch.bfloat16))
        module.__dict__[f"_frozen_bf16_{name}"] = cached
    return cached[1]
