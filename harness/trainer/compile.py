"""`train.compile`: torch.compile of each decoder layer, with inductor's on-disk caches.

    compiled = compile_layers(model)     # in place; returns how many layers were compiled (0: none)

Why each layer and not the whole model ("regional compilation", PyTorch's recipe for
transformers): the layers of a decoder are one module repeated, so dynamo traces one and reuses
the compiled code for the rest, the compile takes about a layer's time instead of the model's,
and the parts around the layers (embedding, the final norm, the head on scored positions only,
the loss) stay eager, where the shared-prefix mask and the sequence-length-dependent indexing
would otherwise make graph breaks and recompiles. What compiling buys is the fusion of the
element-wise work around the matrix products (RMSNorm, rotary embeddings, SiLU x gate, residual
adds, and their backward), which dominates a step on small models.

Shapes change from batch to batch (the longest row decides the length); `dynamic=None` compiles
the first shape statically and, at the first new length, once more with symbolic lengths, then
never again. The compiled artefacts go to inductor's caches (FX graph and AOTAutograd caches,
on by default; `TORCHINDUCTOR_CACHE_DIR`, default /tmp/torchinductor_$USER), so a second process
on the same machine with the same model shape loads them instead of compiling (measured in
README "Performance"). Compilation changes rounding a little (fused kernels), never the math.
`nn.Module.compile` compiles in place: parameter names, checkpoints and LoRA adapters are
unchanged.
"""

from __future__ import annotations


def decoder_layers(model):
    """The repeated blocks of a decoder-only transformers model (LoRA-wrapped or not), or None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    return layers if layers is not None and len(layers) else None


def compile_layers(model) -> int:
    """Compile each decoder layer in place; 0 when the model has no recognisable layer stack."""
    layers = decoder_layers(model)
    if layers is None:
        return 0
    for layer in layers:
        layer.compile(dynamic=None)
    return len(layers)
