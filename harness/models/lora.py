"""LoRA adapters through PEFT (imported lazily: full fine-tuning never pays for it).

    model = apply_lora(model, cfg.model.lora)     # only the adapters require grad
    with model.disable_adapter(): ...             # the base model: the reference for free

The final checkpoint of a LoRA run holds merged weights (`merge_and_unload`), because vLLM-CPU
serves a merged model about 4x faster than the same adapter; the adapter is kept beside it.
"""

from __future__ import annotations


def apply_lora(model, lora_cfg):
    """Wrap `model` with LoRA adapters on `lora_cfg.target_modules` (B = 0: output unchanged)."""
    from peft import LoraConfig, get_peft_model

    from harness.errors import ConfigError

    config = LoraConfig(r=lora_cfg.r, lora_alpha=lora_cfg.alpha, lora_dropout=lora_cfg.dropout,
                        target_modules=list(lora_cfg.target_modules), task_type="CAUSAL_LM")
    try:
        return get_peft_model(model, config)
    except ValueError as e:  # e.g. "Target modules {...} not found in the base model"
        raise ConfigError(f"model.lora: {e}") from None
