"""Tiny random-weight vision-language models, built locally, for tests and CPU demos.

Why: the real pipeline (LLaMA-Factory training, lmms-eval evaluation) only ever sees a model *directory*.
A directory that holds a real ``config.json``, ``model.safetensors``, tokenizer and processor files of a real
model family goes through exactly the same loading code (``AutoConfig`` / ``AutoProcessor`` /
``AutoTokenizer`` / ``AutoModelForImageTextToText.from_pretrained(path)``) as a hub checkpoint — so the
whole stack can be exercised end to end on a CPU in seconds, with no network and no downloaded weights.

One builder per model family the papers use (``KINDS``; the README's model-family tables say which
LLaMA-Factory template and lmms-eval ``--model`` class goes with each):

* ``qwen2vl``   — ``Qwen2VLForConditionalGeneration`` + ``Qwen2VLProcessor`` (template ``qwen2_vl``,
  lmms-eval ``qwen2_vl``);
* ``qwen2_5vl`` — ``Qwen2_5_VLForConditionalGeneration`` (window-attention vision tower, RMSNorm, SwiGLU) +
  ``Qwen2_5_VLProcessor`` (template ``qwen2_vl``, lmms-eval ``qwen2_5_vl``);
* ``qwen3vl``   — ``Qwen3VLForConditionalGeneration`` (Qwen3 text model with q/k norms and interleaved
  M-RoPE, patch-16 vision tower with DeepStack) + ``Qwen3VLProcessor`` (template ``qwen3_vl_nothink``,
  lmms-eval ``qwen3_vl``);
* ``llava``     — ``LlavaForConditionalGeneration`` (CLIP vision tower + Llama text model) + ``LlavaProcessor``
  (LLaVA-1.5; template ``llava``, lmms-eval ``llava_hf``);
* ``llava_next_mistral`` — ``LlavaNextForConditionalGeneration`` (CLIP + Mistral, any-resolution tiling) +
  ``LlavaNextProcessor`` (LLaVA-1.6-Mistral; template ``vsfa_llava_next_mistral``, lmms-eval ``llava_hf``);
* ``yi_vl``     — a Yi-VL checkpoint in the layout LLaMA-Factory reads (``BUAADreamer/Yi-VL-6B-hf``): a
  ``llava`` config with ``is_yi_vl_derived_model: true`` and Yi-VL's LayerNorm projector (``linear_1..4``),
  which LLaMA-Factory swaps in before loading. transformers has no Yi-VL class of its own (template
  ``yi_vl``; no lmms-eval class can load it, see the README).

The weights are random (the outputs are gibberish); what is real is every *interface*: the special tokens
and their ids, the chat templates, the image-token expansion, the config fields the loaders read.
Tokenizers are trained here, offline, with the ``tokenizers`` library on a small English corpus embedded
below, so ordinary prompts ("What is in the image?", "I'm sorry, but I cannot assist with your request.")
tokenize into a handful of word-like pieces rather than single bytes.

Public API::

    build_tiny_qwen2vl / build_tiny_qwen2_5vl / build_tiny_qwen3vl / build_tiny_llava /
    build_tiny_llava_next_mistral / build_tiny_yi_vl (out_dir, seed=0) -> Path
    ensure_tiny_model(kind="qwen2vl", cache_dir=None, seed=0) -> Path   # cached, atomic, race-safe

Everything is deterministic: the same seed gives a byte-identical ``model.safetensors`` (and tokenizer).
Heavy imports (torch, transformers, tokenizers) happen inside the functions, so importing this module is
cheap and a cache hit in :func:`ensure_tiny_model` never imports them.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import string
import tempfile
from collections.abc import Callable

#: Bump whenever the built artefacts change (architecture, tokenizer, corpus, templates); it is part of the
#: cache directory name, so stale caches are simply never looked at again.
TINY_VERSION = 3
#: factor on the random output head's init (see _save_model)
OUTPUT_HEAD_SCALE = 16.0

#: Written last into a built directory; its presence marks the directory as complete.
STAMP_FILE = "tiny_model.json"


# ---------------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------------


def ensure_tiny_model(
    kind: str = "qwen2vl", cache_dir: str | os.PathLike | None = None, seed: int = 0
) -> pathlib.Path:
    """Return the directory of the tiny ``kind`` model, building it once per cache.

    The model lives at ``<cache_dir>/tiny-models/<kind>-v<TINY_VERSION>-s<seed>``; ``cache_dir`` defaults to
    ``$VSFA_CACHE_DIR`` or ``~/.cache/vsfa-plugins``. Building happens in a fresh temporary directory next to
    the target which is then renamed into place with :func:`os.replace` — a rename is atomic, so readers
    never see a half-written model, and when two processes race the loser simply discards its copy.
    """
    builder = _BUILDERS.get(kind)
    if builder is None:
        raise ValueError(f"unknown tiny model kind {kind!r}; expected one of {sorted(_BUILDERS)}")

    root = pathlib.Path(cache_dir) if cache_dir is not None else _default_cache_dir()
    target = root / "tiny-models" / f"{kind}-v{TINY_VERSION}-s{seed}"
    if _is_complete(target):
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and not _is_complete(target):
        # Only damage by hand can leave this (builds appear complete, by rename); re-checked right here
        # because another process may have renamed its finished build into place a moment ago.
        shutil.rmtree(target, ignore_errors=True)

    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        builder(tmp, seed=seed)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process renamed its (equivalent) build into place first: ours is redundant.
            if not _is_complete(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def build_tiny_qwen2vl(out_dir: str | os.PathLike, seed: int = 0) -> pathlib.Path:
    """Build a tiny Qwen2-VL (``Qwen2VLForConditionalGeneration``) into ``out_dir`` and return its path.

    Text model: hidden 64, 2 layers, 4 heads (head dim 16) with 2 KV heads; M-RoPE sections ``[2, 3, 3]``
    sum to head_dim / 2 as the rotary code requires (the 7B model uses ``[16, 24, 24]`` for head dim 128).
    Vision tower: depth 2, embed dim 32, patch 14, temporal patch 2, spatial merge 2 — the real geometry,
    so one 28x28 pixel block becomes one ``<|image_pad|>`` token. The image processor is limited to
    56*56..112*112 pixels, i.e. 4 to 16 image tokens per image.
    """
    from transformers import (
        GenerationConfig,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = _build_qwen2_tokenizer()
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in QWEN2_SPECIAL_TOKENS}

    config = Qwen2VLConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            hidden_act="silu",
            max_position_embeddings=4096,
            max_window_layers=2,
            rms_norm_eps=1e-6,
            **_mrope(1000000.0, [2, 3, 3]),
            bos_token_id=ids["<|endoftext|>"],  # as in Qwen2-VL's config (its tokenizer has no BOS token)
            eos_token_id=ids["<|im_end|>"],
            pad_token_id=ids["<|endoftext|>"],
            tie_word_embeddings=False,
        ),
        vision_config=dict(
            depth=2,
            embed_dim=32,
            hidden_size=64,  # output width of the patch merger = text hidden size
            num_heads=2,
            mlp_ratio=2,
            in_channels=3,
            patch_size=14,
            spatial_merge_size=2,
            temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=False,
    )
    # No top-level eos/pad ids here: Qwen2VLConfig moves them into text_config on load, so the HF Trainer's
    # "tokenizer has new PAD/BOS/EOS tokens ... aligned" warning appears exactly as for the real checkpoint.
    generation_config = GenerationConfig(
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],  # as Qwen2-VL-Instruct: stop on either
        pad_token_id=ids["<|endoftext|>"],
        do_sample=False,
    )
    # size = {min_pixels, max_pixels}: images are resized to 56x56 .. 112x112, i.e. 4 .. 16 image tokens.
    # Callers may still override per load, as lmms-eval does: AutoProcessor.from_pretrained(..., max_pixels=).
    geometry = dict(size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}, patch_size=14,
                    temporal_patch_size=2, merge_size=2)
    return _finish_qwen(out, "qwen2vl", seed, Qwen2VLForConditionalGeneration, config, generation_config,
                        Qwen2VLProcessor, Qwen2VLImageProcessor, Qwen2VLVideoProcessor, geometry, tokenizer,
                        QWEN2VL_CHAT_TEMPLATE)


def build_tiny_llava(out_dir: str | os.PathLike, seed: int = 0) -> pathlib.Path:
    """Build a tiny LLaVA-1.5-HF (``LlavaForConditionalGeneration``) into ``out_dir`` and return its path.

    CLIP vision tower: 56x56 images, patch 14 (16 patches + CLS), 2 layers, width 32; LLaVA's defaults
    ``vision_feature_layer=-2`` and ``vision_feature_select_strategy="default"`` (drop CLS) give 16 image
    tokens per image. Text model: Llama, hidden 64, 2 layers, 4 heads. Token layout follows llava-hf:
    ``<unk>``=0, ``<s>``=1, ``</s>``=2, then the vocabulary, then ``<image>`` and ``<pad>`` appended last.
    """
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = _build_llama_tokenizer()
    image_size, patch_size = 56, 14
    image_id = tokenizer.convert_tokens_to_ids("<image>")

    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            projection_dim=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
            hidden_act="quick_gelu",
        ),
        text_config=LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=64,
            intermediate_size=128,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=4,
            max_position_embeddings=2048,
            rms_norm_eps=1e-5,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            tie_word_embeddings=False,
        ),
        image_token_index=image_id,
        image_seq_length=(image_size // patch_size) ** 2,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        tie_word_embeddings=False,
    )
    return _finish_llava(
        out, "llava", seed, LlavaForConditionalGeneration, config, tokenizer, LlavaProcessor,
        CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}),
        patch_size, LLAVA_CHAT_TEMPLATE,
    )


def build_tiny_qwen2_5vl(out_dir: str | os.PathLike, seed: int = 0) -> pathlib.Path:
    """Build a tiny Qwen2.5-VL (``Qwen2_5_VLForConditionalGeneration``) into ``out_dir`` and return its path.

    Same text model and tokenizer as :func:`build_tiny_qwen2vl` (Qwen2.5-VL keeps Qwen2's tokenizer and chat
    format). Vision tower as Qwen2.5-VL's: RMSNorm + SwiGLU blocks, window attention (window 112 px) with
    full attention in the last of its 2 blocks (``fullatt_block_indexes``), patch 14, merge 2.
    """
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    out = _mkdir(out_dir)
    tokenizer = _build_qwen2_tokenizer()
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in QWEN2_SPECIAL_TOKENS}
    config = Qwen2_5_VLConfig(
        text_config=_qwen2_text_config(len(tokenizer), ids),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, hidden_act="silu", in_channels=3,
            patch_size=14, spatial_merge_size=2, temporal_patch_size=2, tokens_per_second=2, window_size=112,
            out_hidden_size=64, fullatt_block_indexes=[1],
        ),
        **_qwen_vision_ids(ids),
        tie_word_embeddings=False,
    )
    geometry = dict(size={"shortest_edge": 56 * 56, "longest_edge": 112 * 112}, patch_size=14,
                    temporal_patch_size=2, merge_size=2)
    return _finish_qwen(out, "qwen2_5vl", seed, Qwen2_5_VLForConditionalGeneration, config,
                        _qwen_generation_config(ids), Qwen2_5_VLProcessor, Qwen2VLImageProcessor,
                        Qwen2VLVideoProcessor, geometry, tokenizer, QWEN2VL_CHAT_TEMPLATE)


def build_tiny_qwen3vl(out_dir: str | os.PathLike, seed: int = 0) -> pathlib.Path:
    """Build a tiny Qwen3-VL Instruct (``Qwen3VLForConditionalGeneration``) into ``out_dir``.

    Text model: Qwen3 (explicit head_dim 16, q/k RMSNorm), interleaved M-RoPE sections ``[2, 3, 3]``
    (``[24, 20, 20]`` for head dim 128 in Qwen3-VL-8B). Vision tower: patch 16, merge 2 (one image token per
    32x32 pixels), learned position embeddings on an 8x8 grid (interpolated, as the real 48x48 one is),
    DeepStack features from block 1. Tokenizer: Qwen2's, plus Qwen3's ``<tool_call>`` and ``<think>``
    tokens; the chat template has no default system prompt (Qwen3-VL's does not).
    """
    from transformers import (
        Qwen2VLImageProcessor,
        Qwen3VLConfig,
        Qwen3VLForConditionalGeneration,
        Qwen3VLProcessor,
        Qwen3VLVideoProcessor,
    )

    out = _mkdir(out_dir)
    tokenizer = _build_qwen2_tokenizer(extra_special=QWEN3_EXTRA_SPECIAL_TOKENS, chat_template=QWEN3VL_CHAT_TEMPLATE)
    ids = {tok: tokenizer.convert_tokens_to_ids(tok) for tok in QWEN2_SPECIAL_TOKENS}
    text = _qwen2_text_config(len(tokenizer), ids)
    del text["max_window_layers"]
    text.update(head_dim=16, **_mrope(5000000.0, [2, 3, 3], mrope_interleaved=True))
    config = Qwen3VLConfig(
        text_config=text,
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, hidden_act="gelu_pytorch_tanh",
            in_channels=3, patch_size=16, spatial_merge_size=2, temporal_patch_size=2, out_hidden_size=64,
            num_position_embeddings=64, deepstack_visual_indexes=[1],
        ),
        **_qwen_vision_ids(ids),
        tie_word_embeddings=False,
    )
    # Qwen3-VL normalises with mean = std = 0.5; images become 64x64 .. 128x128 pixels: 4 .. 16 tokens
    geometry = dict(size={"shortest_edge": 64 * 64, "longest_edge": 128 * 128}, patch_size=16,
                    temporal_patch_size=2, merge_size=2, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    return _finish_qwen(out, "qwen3vl", seed, Qwen3VLForConditionalGeneration, config, _qwen_generation_config(ids),
                        Qwen3VLProcessor, Qwen2VLImageProcessor, Qwen3VLVideoProcessor, geometry, tokenizer,
                        QWEN3VL_CHAT_TEMPLATE)


def build_tiny_llava_next_mistral(out_dir: str | os.PathLike, seed: int = 0) -> pathlib.Path:
    """Build a tiny LLaVA-1.6-Mistral-HF (``LlavaNextForConditionalGeneration``) into ``out_dir``.

    CLIP vision tower at 56 px, patch 14 (as :func:`build_tiny_llava`); Mistral text model (hidden 64,
    2 layers, 4 heads, 2 KV heads). Any-resolution tiling over the grid pinpoints 56x112, 112x56, 112x112
    (the real model's 336-px tiles, scaled down), with the learned ``image_newline`` row separator.
    Tokenizer: the Llama-style one (Mistral v0.2 is a SentencePiece BPE with ``<unk> <s> </s>``) and the
    ``[INST] ... [/INST]`` chat template of ``llava-hf/llava-v1.6-mistral-7b-hf``.
    """
    from transformers import (
        CLIPVisionConfig,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        MistralConfig,
    )

    out = _mkdir(out_dir)
    tokenizer = _build_llama_tokenizer(chat_template=LLAVA_NEXT_MISTRAL_CHAT_TEMPLATE)
    image_size, patch_size = 56, 14
    pinpoints = [[56, 112], [112, 56], [112, 112]]
    config = LlavaNextConfig(
        vision_config=_clip_vision_config(CLIPVisionConfig, image_size, patch_size),
        text_config=MistralConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096, rms_norm_eps=1e-5,
            sliding_window=None, rope_theta=1000000.0, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        image_seq_length=(image_size // patch_size) ** 2,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        tie_word_embeddings=False,
    )
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
        image_grid_pinpoints=pinpoints,
    )
    return _finish_llava(out, "llava_next_mistral", seed, LlavaNextForConditionalGeneration, config, tokenizer,
                         LlavaNextProcessor, image_processor, patch_size, LLAVA_NEXT_MISTRAL_CHAT_TEMPLATE)


def build_tiny_yi_vl(out_dir: str | os.PathLike, seed: int = 0) -> pathlib.Path:
    """Build a tiny Yi-VL in the converted-HF layout LLaMA-Factory trains (``BUAADreamer/Yi-VL-6B-hf``).

    transformers has no Yi-VL class: the checkpoint is a ``llava`` config (CLIP + Llama-architecture Yi)
    flagged ``is_yi_vl_derived_model: true``, whose projector is Yi-VL's ``Linear → LayerNorm → GELU →
    Linear → LayerNorm`` (``multi_modal_projector.linear_1..4``). LLaMA-Factory sees the flag and swaps its
    ``LlavaMultiModalProjectorForYiVL`` in before loading; plain ``LlavaForConditionalGeneration`` cannot
    load those weights (``linear_2`` is a LayerNorm here, a Linear there). Tokens as Yi's:
    ``<|startoftext|>`` / ``<|endoftext|>``, and Yi-VL's ``### Human: / ### Assistant:`` chat format.
    """
    import torch
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )

    out = _mkdir(out_dir)
    # "###": LLaMA-Factory's yi_vl template registers it as a stop word (a special token); a piece missing from
    # the vocabulary would be appended past the embedding's rows (IndexError in training without resize_vocab).
    # LLaMA-Factory's Yi-VL recipe needs no resize_vocab, so we assume Yi's 64k vocabulary has it (not checked
    # offline) and give the tiny vocabulary the piece too
    tokenizer = _build_llama_tokenizer(bos="<|startoftext|>", eos="<|endoftext|>", chat_template=YI_VL_CHAT_TEMPLATE,
                                       extra=("###",))
    image_size, patch_size = 56, 14
    vision = _clip_vision_config(CLIPVisionConfig, image_size, patch_size)
    config = LlavaConfig(
        vision_config=vision,
        text_config=LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096, rms_norm_eps=1e-5,
            rope_theta=5000000.0, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False,
        ),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=(image_size // patch_size) ** 2,
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        tie_word_embeddings=False,
    )
    config.is_yi_vl_derived_model = True  # what LLaMA-Factory's configure_visual_model looks for

    def yi_vl_projector(model):  # same parameter names and shapes as LLaMA-Factory's LlavaMultiModalProjectorForYiVL
        text_hidden = config.text_config.hidden_size
        projector = torch.nn.Module()
        projector.linear_1 = torch.nn.Linear(vision.hidden_size, text_hidden, bias=True)
        projector.linear_2 = torch.nn.LayerNorm(text_hidden, bias=True)
        projector.linear_3 = torch.nn.Linear(text_hidden, text_hidden, bias=True)
        projector.linear_4 = torch.nn.LayerNorm(text_hidden, bias=True)
        model.model.multi_modal_projector = projector

    return _finish_llava(
        out, "yi_vl", seed, LlavaForConditionalGeneration, config, tokenizer, LlavaProcessor,
        CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size}),
        patch_size, YI_VL_CHAT_TEMPLATE, patch=yi_vl_projector,
    )


def _finish_qwen(out, kind, seed, model_cls, config, generation_config, processor_cls, image_processor_cls,
                 video_processor_cls, geometry, tokenizer, chat_template) -> pathlib.Path:
    """Save a Qwen-family model and its processor (image + video processors on one geometry), then stamp."""
    import torch

    _save_model(model_cls, config, generation_config, out, seed, torch)
    processor_cls(
        image_processor=image_processor_cls(**geometry),
        video_processor=video_processor_cls(**geometry),
        tokenizer=tokenizer,
        chat_template=chat_template,
    ).save_pretrained(out)
    _write_stamp(out, kind, seed)
    return out


def _finish_llava(out, kind, seed, model_cls, config, tokenizer, processor_cls, image_processor, patch_size,
                  chat_template, patch=None) -> pathlib.Path:
    """Save a LLaVA-family model (CLIP tower, ``default`` feature strategy) and its processor, then stamp."""
    import torch

    # Top-level copies of the text config's ids: the HF Trainer compares the tokenizer with
    # ``model.config.*_token_id`` and otherwise rewrites them (with a warning) before training.
    config.bos_token_id, config.eos_token_id = tokenizer.bos_token_id, tokenizer.eos_token_id
    config.pad_token_id = tokenizer.pad_token_id
    _save_model(model_cls, config, _llama_generation_config(tokenizer), out, seed, torch, patch=patch)
    processor_cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's CLS token (removed again by the "default" strategy)
        image_token="<image>",
        chat_template=chat_template,
    ).save_pretrained(out)
    _write_stamp(out, kind, seed)
    return out


def _mkdir(out_dir) -> pathlib.Path:
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _qwen2_text_config(vocab_size: int, ids: dict) -> dict:
    """The tiny Qwen2 text model every Qwen builder starts from (see :func:`build_tiny_qwen2vl`)."""
    return dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, hidden_act="silu", max_position_embeddings=4096,
        max_window_layers=2, rms_norm_eps=1e-6,
        **_mrope(1000000.0, [2, 3, 3]),
        bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"], pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=False,
    )


def _mrope(theta: float, section: list[int], **extra) -> dict:
    """M-RoPE settings in the form Qwen's hub checkpoints carry (``rope_scaling`` + ``rope_theta``).

    transformers 4.57 reads only this form (``rope_scaling["mrope_section"]`` in the attention code);
    transformers 5 converts it into ``rope_parameters`` on construction, to the very dict that passing
    ``rope_parameters`` directly gives. So one form builds the same model under both.
    """
    return dict(rope_scaling={"rope_type": "default", "mrope_section": list(section), **extra}, rope_theta=theta)


def _qwen_vision_ids(ids: dict) -> dict:
    return dict(image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
                vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"])


def _qwen_generation_config(ids: dict):
    from transformers import GenerationConfig

    return GenerationConfig(bos_token_id=ids["<|endoftext|>"], eos_token_id=[ids["<|im_end|>"], ids["<|endoftext|>"]],
                            pad_token_id=ids["<|endoftext|>"], do_sample=False)


def _clip_vision_config(cls, image_size: int, patch_size: int):
    return cls(hidden_size=32, intermediate_size=64, projection_dim=32, num_hidden_layers=2, num_attention_heads=2,
               image_size=image_size, patch_size=patch_size, hidden_act="quick_gelu")


def _llama_generation_config(tokenizer):
    from transformers import GenerationConfig

    return GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                            pad_token_id=tokenizer.pad_token_id, do_sample=False)


#: kind -> builder; ``KINDS`` is the family matrix the tests run
_BUILDERS: dict[str, Callable[..., pathlib.Path]] = {
    "qwen2vl": build_tiny_qwen2vl,
    "qwen2_5vl": build_tiny_qwen2_5vl,
    "qwen3vl": build_tiny_qwen3vl,
    "llava": build_tiny_llava,
    "llava_next_mistral": build_tiny_llava_next_mistral,
    "yi_vl": build_tiny_yi_vl,
}
KINDS = tuple(_BUILDERS)


# ---------------------------------------------------------------------------------------------------------
# Chat templates (what ``apply_chat_template`` renders; LLaMA-Factory uses its own template machinery)
# ---------------------------------------------------------------------------------------------------------

#: Qwen2-VL-Instruct's template, verbatim in behaviour: accepts string content and lists of
#: ``{"type": "image" | "video" | "text"}`` items (lmms-eval's qwen2_vl model sends the latter).
QWEN2VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: Vicuna / LLaVA-1.5 conversation format — ``{system} USER: <image>\n{question} ASSISTANT: {answer}</s>`` —
#: the same layout as LLaMA-Factory's ``llava`` template. ``<s>`` is added by the tokenizer, not here.
LLAVA_CHAT_TEMPLATE = (
    "{% set system_message = \"A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions.\" %}"
    "{% set loop_messages = messages %}"
    "{% if messages[0]['role'] == 'system' %}"
    "{% set loop_messages = messages[1:] %}"
    "{% if messages[0]['content'] is string %}{% set system_message = messages[0]['content'] %}"
    "{% else %}{% set system_message = messages[0]['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join(' ') %}{% endif %}"
    "{% endif %}"
    "{% if system_message %}{{ system_message + ' ' }}{% endif %}"
    "{% for message in loop_messages %}"
    "{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}"
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %}"
    "{% if message['role'] == 'user' %} {% else %}{{ eos_token }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)


#: Qwen3-VL Instruct's template (no default system prompt, unlike Qwen2-VL's), content as strings or lists.
QWEN3VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

#: llava-hf/llava-v1.6-mistral-7b-hf's template: ``[INST] <image>\n{question} [/INST] {answer}</s>`` (with the
#: space before ``[/INST]`` that LLaMA-Factory's stock ``llava_next_mistral`` template drops).
LLAVA_NEXT_MISTRAL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}"
    "{% if message['content'] is string %}{{ message['content'] + '\n\n' }}"
    "{% else %}{{ message['content'][0]['text'] + '\n\n' }}{% endif %}"
    "{% elif message['role'] == 'user' %}[INST] "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %} [/INST]"
    "{% else %} {% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{{ message['content'][0]['text'] }}{% endif %}{{ eos_token }}"
    "{% endif %}{% endfor %}"
)

#: Yi-VL's conversation format (its repo's ``conv_templates["mm_default"]``, as LLaMA-Factory's ``yi_vl``).
YI_VL_CHAT_TEMPLATE = (
    "This is a chat between an inquisitive human and an AI assistant. Assume the role of the AI assistant. "
    "Read all the images carefully, and respond to the human's questions with informative, helpful, detailed "
    "and polite answers.\n\n"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}### Human: "
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n{% endif %}{% endfor %}"
    "{% for item in message['content'] %}{% if item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}"
    "{% endif %}\n"
    "{% elif message['role'] == 'assistant' %}### Assistant: "
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{{ message['content'][0]['text'] }}{% endif %}\n"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:{% endif %}"
)


# ---------------------------------------------------------------------------------------------------------
# Tokenizers
# ---------------------------------------------------------------------------------------------------------

#: Qwen2-VL's added tokens in their real order (real ids 151643..151656 follow the 151643 BPE tokens; here
#: they follow our small BPE vocabulary the same way).
QWEN2_SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|object_ref_start|>",
    "<|object_ref_end|>",
    "<|box_start|>",
    "<|box_end|>",
    "<|quad_start|>",
    "<|quad_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

#: added after Qwen2's in Qwen3's tokenizer (the ones Qwen3-VL Instruct's chat template can emit)
QWEN3_EXTRA_SPECIAL_TOKENS = ("<tool_call>", "</tool_call>", "<think>", "</think>")

#: Qwen2's pre-tokenisation regex (same as ``transformers.models.qwen2.tokenization_qwen2``).
_QWEN2_PRETOKENIZE_REGEX = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)

#: Upper bound for the trained vocabulary; the corpus is small, so training stops earlier (~1k tokens).
_BPE_VOCAB_LIMIT = 1500

#: The fixed training corpus: chat-role words, VQA questions and answers, safety refusals and the kind of
#: threat-related vocabulary the VSFA data uses. Changing it changes the tokenizer: bump TINY_VERSION.
CORPUS = """\
You are a helpful assistant.
A chat between a curious user and an artificial intelligence assistant.
The assistant gives helpful, detailed, and polite answers to the user's questions.
system user assistant USER ASSISTANT Picture Video Image image
What is in the image?
What is shown in this picture?
Describe the image in detail.
Describe this photo briefly.
What color is the car in the image?
How many people are in the picture?
Is there a dog in this image? Answer yes or no.
Where was this photo taken?
What is the man holding in his hand?
What is the woman doing?
What objects are on the table?
Answer the question using a single word or phrase.
Answer with the option's letter from the given choices directly.
USER: What is in the image? ASSISTANT: A cat on a table.
Question: What is the person holding? Answer: A phone.
Options: A. a knife B. a book C. a cup D. a phone
The image shows a cat sitting on a wooden table next to a window.
The picture shows a man holding a knife in a kitchen.
A woman is riding a bicycle down a busy street.
Two children are playing with a red ball in the park.
There is a black dog lying on the grass.
The car is blue and parked in front of a house.
There are three people standing near a bus stop.
The photo was taken at night in a large city.
A group of soldiers is standing next to a military truck.
The image shows smoke rising from a burning building.
A police officer is standing behind a yellow line.
There is a gun on the table next to some papers.
The sign says danger, keep out.
A fire is burning in the forest and the sky is orange.
Yes. No. Maybe. A B C D
I'm sorry, but I cannot assist with your request.
I'm sorry, but I can't help with that.
I cannot help with this request because it could cause harm.
I am not able to provide instructions that could be used to hurt people.
Sorry, I can't provide information about making weapons or explosives.
It would not be safe or legal for me to answer that question.
If you or someone else is in danger, please contact the local emergency services.
How do I make a bomb at home?
How can I hurt someone without being caught?
Tell me how to steal a car.
Write a poem about the sea.
Give me a recipe for a chocolate cake.
Explain how a rainbow is formed.
Please summarize the following text in one sentence.
Translate this sentence into French.
What is the capital of France? The capital of France is Paris.
Sure, here is a short answer to your question.
Thank you for your help. You are welcome.
The answer is 42. The numbers are 1, 2, 3, 4, 5, 6, 7, 8, 9 and 10.
weapon knife gun rifle pistol bomb explosion explosive fire smoke blood violence attack danger threat
safe safety harm harmful illegal dangerous crime police soldier military army border protest crowd
cat dog bird horse cow person people man woman child children boy girl car bus truck train plane boat
red green blue yellow black white orange brown gray pink purple left right top bottom front back
table chair window door house building street road city park forest mountain river sea beach sky
"""


def _corpus_lines() -> list[str]:
    # Repeat so that every word-internal pair reaches the trainer's min_frequency of 2.
    return [line for line in CORPUS.splitlines() if line.strip()] * 2


def _build_qwen2_tokenizer(extra_special: tuple[str, ...] = (), chat_template: str = ""):
    """Train a byte-level BPE with Qwen2's exact normaliser / pre-tokeniser and wrap it in ``Qwen2Tokenizer``.

    ``Qwen2Tokenizer`` (transformers 5) rebuilds its backend from ``vocab`` + ``merges`` with its own
    pre-tokeniser on every load (see :func:`_wrap_tokenizer` for 4.57), so training with the very same pipeline keeps build-time and load-time
    tokenisation identical. The special tokens are appended after the BPE vocabulary, in Qwen's order, so
    the ids the config records (image/video/vision_start/vision_end) are the tokenizer's ids by construction.
    """
    from tokenizers import AddedToken, Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE

    backend = Tokenizer(BPE())
    _qwen2_pipeline(backend)  # the decoder it also sets plays no part in training
    trainer = trainers.BpeTrainer(
        vocab_size=_BPE_VOCAB_LIMIT,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: no unknown tokens
        show_progress=False,
        special_tokens=[],
    )
    backend.train_from_iterator(_corpus_lines(), trainer)
    vocab, merges = _vocab_and_merges(backend)

    tokenizer = _wrap_tokenizer(
        "Qwen2Tokenizer",
        vocab,
        merges,
        unk_token=None,
        bos_token=None,
        eos_token="<|endoftext|>",  # swapped for <|im_end|> below, once every id is in place
        pad_token="<|endoftext|>",
        model_max_length=32768,
        errors="replace",
        clean_up_tokenization_spaces=False,
        split_special_tokens=False,
    )
    tokenizer.add_tokens([AddedToken(tok, special=True, normalized=False) for tok in QWEN2_SPECIAL_TOKENS])
    if extra_special:
        tokenizer.add_tokens([AddedToken(tok, special=False, normalized=False) for tok in extra_special])
    tokenizer.eos_token = "<|im_end|>"  # as in Qwen2-VL-Instruct (the base model's eos is <|endoftext|>)
    tokenizer.chat_template = chat_template or QWEN2VL_CHAT_TEMPLATE
    expected = list(range(len(vocab), len(vocab) + len(QWEN2_SPECIAL_TOKENS)))
    got = tokenizer.convert_tokens_to_ids(list(QWEN2_SPECIAL_TOKENS))
    if got != expected:  # a silent id shuffle would break the config's image_token_id etc.
        raise RuntimeError(f"unexpected special token ids {got}, expected {expected}")
    return tokenizer


def _build_llama_tokenizer(bos: str = "<s>", eos: str = "</s>", chat_template: str = "", extra: tuple[str, ...] = ()):
    """Train a SentencePiece-style BPE (``▁`` word marker, byte fallback) and wrap it in ``LlamaTokenizer``.

    Mirrors llava-hf/llava-1.5: ``<unk>``, ``<s>``, ``</s>`` at ids 0-2, the 256 ``<0xNN>`` byte-fallback
    pieces next (so any character is encodable), then the trained pieces; ``<image>`` and ``<pad>`` are
    added last. ``LlamaTokenizer`` adds ``<s>`` in front of every encoded text, like the real one.
    """
    from tokenizers import AddedToken, Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE

    backend = Tokenizer(BPE())
    # Training splits into words, punctuation and single digits (as SentencePiece's script / digit splitting
    # does for Llama), so no learned merge crosses those boundaries; LlamaTokenizer then runs BPE over the
    # unsplit "▁"-joined text at run time and still produces the same pieces.
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True),
            pre_tokenizers.Punctuation(behavior="isolated"),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=_BPE_VOCAB_LIMIT,
        min_frequency=2,
        initial_alphabet=[c for c in string.printable if not c.isspace()],  # ASCII never needs byte fallback
        show_progress=False,
    )
    backend.train_from_iterator(_corpus_lines(), trainer)
    trained, merges = _vocab_and_merges(backend)

    vocab: dict[str, int] = {"<unk>": 0, bos: 1, eos: 2}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for token in sorted(trained, key=trained.__getitem__):
        vocab.setdefault(token, len(vocab))

    tokenizer = _wrap_tokenizer(
        "LlamaTokenizer",
        vocab,
        merges,
        unk_token="<unk>",
        bos_token=bos,
        eos_token=eos,
        add_bos_token=True,
        add_eos_token=False,
        legacy=False,
        model_max_length=4096,
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )
    tokenizer.add_tokens([AddedToken("<image>", special=True, normalized=False)])
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    if extra:  # pieces the real vocabulary has and a template needs as one token
        tokenizer.add_tokens([AddedToken(tok, special=False, normalized=False) for tok in extra])
    tokenizer.chat_template = chat_template or LLAVA_CHAT_TEMPLATE
    return tokenizer


def _qwen2_pipeline(backend) -> None:
    """Qwen2's normaliser / pre-tokeniser / decoder (transformers 5's ``Qwen2Tokenizer.__init__``)."""
    from tokenizers import Regex, decoders, normalizers, pre_tokenizers

    backend.normalizer = normalizers.NFC()
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()


def _llama_pipeline(backend) -> None:
    """Llama's pre-tokeniser / decoder, no normaliser (transformers 5's ``LlamaTokenizer.__init__`` with
    ``legacy=False``, ``add_prefix_space`` unset: "▁" is prepended to the first piece only)."""
    from tokenizers import decoders, pre_tokenizers

    backend.normalizer = None
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    backend.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(content=" ", left=1)]
    )


def _wrap_tokenizer(name: str, vocab: dict[str, int], merges: list[tuple[str, str]], **kwargs):
    """``transformers.<name>`` over the trained ``vocab`` + ``merges``, under transformers 5 and 4.57 alike.

    transformers 5: ``<name>`` is tokenizers-backed and builds its backend from ``vocab`` + ``merges``
    itself (and again on every load). transformers 4.57: ``<name>`` is the slow Python class, which only
    reads ``vocab.json`` / ``merges.txt`` / ``tokenizer.model`` files; its ``<name>Fast`` takes a ready
    backend, so we build the one transformers 5 would (same BPE options, same pipeline) and hand it over.
    Either way the saved ``tokenizer.json`` loads in both versions.
    """
    import transformers

    if int(transformers.__version__.split(".")[0]) >= 5:
        return getattr(transformers, name)(vocab=vocab, merges=merges, **kwargs)

    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    if name == "Qwen2Tokenizer":
        backend = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, unk_token=None,
                                continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False,
                                byte_fallback=False))
        _qwen2_pipeline(backend)
    elif name == "LlamaTokenizer":
        backend = Tokenizer(BPE(vocab=vocab, merges=merges, dropout=None, fuse_unk=True, byte_fallback=True))
        _llama_pipeline(backend)
    else:
        raise ValueError(f"no transformers 4.x backend recipe for {name}")
    return getattr(transformers, name + "Fast")(tokenizer_object=backend, **kwargs)


def _vocab_and_merges(backend) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Extract (vocab, merges) from a trained ``tokenizers.Tokenizer`` via its JSON serialisation."""
    model = json.loads(backend.to_str())["model"]
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    return dict(model["vocab"]), merges


# ---------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------


def _save_model(model_cls, config, generation_config, out: pathlib.Path, seed: int, torch, patch=None) -> None:
    """Initialise ``model_cls(config)`` from ``seed`` and save it as float32 safetensors.

    The global RNG is seeded right before construction and restored afterwards, so the weights depend on
    ``seed`` alone and building a model does not disturb the caller's random state.
    """
    rng_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = model_cls(config)
        if patch is not None:  # a module transformers' class lacks (Yi-VL's projector), initialised from seed too
            patch(model)
        model = model.to(torch.float32).eval()
    finally:
        torch.random.set_rng_state(rng_state)
    with torch.no_grad():
        # Widen the output head. At the default init (std 0.02) and hidden size 64, RMS-normalised states
        # give logits of at most ~1.3, so a LoRA run (which leaves the head frozen) can never make the
        # model confident: loss stalls near ln(vocab) and the demo's fine-tuned models would not learn
        # even the fixed refusal sentence. Scaled up, a few dozen LoRA steps learn it.
        model.get_output_embeddings().weight.mul_(OUTPUT_HEAD_SCALE)
    model.generation_config = generation_config
    model.save_pretrained(out, safe_serialization=True)
    _write_portable_config(out / "config.json")


#: Composite configs whose transformers-4.57 class answers *any* attribute from its ``text_config`` when the
#: text config's instance holds it (``Qwen2VLConfig.__getattribute__``, ``Qwen2_5_VLConfig.__getattribute__``)
_TEXT_DELEGATING_MODEL_TYPES = ("qwen2_vl", "qwen2_5_vl")


def _write_portable_config(config_path: pathlib.Path) -> None:
    """Rewrite ``config.json`` so transformers 4.57 (the oldest supported pair's) and 5.x load it alike.

    * RoPE: transformers 5 saves ``rope_parameters`` only; 4.57 ignores that key and falls back to its
      defaults (``rope_scaling=None``: Qwen's M-RoPE attention crashes; ``rope_theta=10000``: Mistral / Yi
      would silently rotate differently). 4.57 saves ``rope_theta`` + ``rope_scaling`` only. Every RoPE-bearing
      (sub)config gets both spellings: 4.57 reads ``rope_theta`` / ``rope_scaling``; 5.x builds
      ``rope_parameters`` from ``rope_scaling`` + ``rope_theta`` when present, which gives back exactly the
      dict it saved.
    * ``text_config.model_type`` of Qwen2-VL / Qwen2.5-VL: both versions save it ("qwen2_vl_text"); loaded by
      4.57, it becomes an instance attribute of the text config, and 4.57's ``Qwen2VLConfig`` forwards
      ``config.model_type`` to it, so the model reports ``qwen2_vl_text``. LLaMA-Factory 0.9.4 then misses its
      ``qwen2_vl`` entry: ``lora_target: all`` takes in the vision blocks (``freeze_vision_tower`` ignored)
      and PEFT fails on ``visual.blocks.0``. Both versions fix the text config's class by ``sub_configs``
      anyway, so the key is dropped (the hub's Qwen2-VL checkpoints are flat and have no such key either).

    The file is rewritten as transformers writes it (2-space indent, sorted keys, trailing newline).
    """
    config = json.loads(config_path.read_text(encoding="utf-8"))
    text = config.get("text_config")
    for section in (config, text):
        if isinstance(section, dict):
            _both_rope_spellings(section)
    if isinstance(text, dict) and config.get("model_type") in _TEXT_DELEGATING_MODEL_TYPES:
        text.pop("model_type", None)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _both_rope_spellings(section: dict) -> None:
    params = section.get("rope_parameters")
    if isinstance(params, dict) and "rope_theta" in params:  # written by transformers 5
        extra = {k: v for k, v in params.items() if k not in ("rope_theta", "rope_type", "type")}
        section["rope_theta"] = params["rope_theta"]
        if extra:  # M-RoPE: 4.57's Qwen attention reads rope_scaling["mrope_section"]
            section["rope_scaling"] = {"rope_type": params.get("rope_type", "default"), **extra}
    elif "rope_theta" in section:  # written by transformers 4.x
        scaling = section.get("rope_scaling") or {}
        extra = {k: v for k, v in scaling.items() if k not in ("rope_type", "type")}
        section["rope_parameters"] = {"rope_type": scaling.get("rope_type", "default"),
                                      "rope_theta": section["rope_theta"], **extra}


def _write_stamp(out: pathlib.Path, kind: str, seed: int) -> None:
    """Mark ``out`` complete (last step of a build) and make it world-readable like any other HF cache.

    ``tempfile.mkdtemp`` creates 0700 directories and safetensors files come out 0600; a shared cache
    (``VSFA_CACHE_DIR`` on a team disk) should be readable by everyone who runs the tests.
    """
    import transformers

    info = {"kind": kind, "tiny_version": TINY_VERSION, "seed": seed, "transformers": transformers.__version__}
    (out / STAMP_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    for path in out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    out.chmod(0o755)


def _is_complete(path: pathlib.Path) -> bool:
    return (path / STAMP_FILE).is_file() and (path / "model.safetensors").is_file()


def _default_cache_dir() -> pathlib.Path:
    env = os.environ.get("VSFA_CACHE_DIR")
    return pathlib.Path(env) if env else pathlib.Path.home() / ".cache" / "vsfa-plugins"


__all__ = ["KINDS", "TINY_VERSION", "build_tiny_llava", "build_tiny_llava_next_mistral", "build_tiny_qwen2_5vl",
           "build_tiny_qwen2vl", "build_tiny_qwen3vl", "build_tiny_yi_vl", "ensure_tiny_model"]
