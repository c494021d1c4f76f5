"""Tiny random-weight VLMs (vsfa_plugins.testing.tiny): they load through the real HF code paths and work with
LLaMA-Factory's template machinery, deterministically and cached."""

from __future__ import annotations

import hashlib

import pytest

from vsfa_plugins.testing import tiny

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")

BUILDERS = {"qwen2vl": tiny.build_tiny_qwen2vl, "llava": tiny.build_tiny_llava}
QWEN2VL_SPECIAL = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Both kinds built once for the module (each build takes a fraction of a second after imports)."""
    root = tmp_path_factory.mktemp("tiny")
    return {kind: build(root / kind) for kind, build in BUILDERS.items()}


def _image(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    pixels = (torch.rand(64, 64, 3, generator=gen) * 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels)


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- 1. loads with the Auto* classes, processes a chat with an image, runs forward and generate ----------


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_loads_processes_forwards_and_generates(built, kind):
    from transformers import (
        AutoConfig,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    path = built[kind]
    config = AutoConfig.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()

    assert model.dtype == torch.float32
    assert config.get_text_config().vocab_size == len(tokenizer) <= 2000
    assert model.generation_config.do_sample is False
    image_token_id = config.image_token_id
    assert image_token_id == tokenizer.convert_tokens_to_ids(processor.image_token)
    if kind == "qwen2vl":
        assert tokenizer.eos_token == "<|im_end|>" and tokenizer.pad_token == "<|endoftext|>"
        assert tokenizer.eos_token_id in model.generation_config.eos_token_id
        ids = tokenizer.convert_tokens_to_ids(QWEN2VL_SPECIAL)
        assert ids == [config.vision_start_token_id, config.vision_end_token_id, config.image_token_id,
                       config.video_token_id]
    else:
        assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.unk_token) == ("<s>", "</s>", "<unk>")
        assert tokenizer.pad_token_id is not None and tokenizer.pad_token_id != tokenizer.eos_token_id
        assert model.generation_config.eos_token_id == tokenizer.eos_token_id

    # The corpus-trained tokenizer splits ordinary English into word pieces, not bytes.
    refusal = "I'm sorry, but I cannot assist with your request."
    assert len(tokenizer(refusal, add_special_tokens=False)["input_ids"]) <= 16

    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in the image?"}]}]
    prompt = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    inputs = processor(images=[_image()], text=[prompt], return_tensors="pt")
    input_ids = inputs["input_ids"]
    assert input_ids.shape[0] == 1
    n_image_tokens = int((input_ids == image_token_id).sum())
    assert n_image_tokens == (4 if kind == "qwen2vl" else 16)  # 64px -> 56x56 -> 2x2 merged / 4x4 patches

    with torch.no_grad():
        out = model(**inputs)
    assert out.logits.shape == (1, input_ids.shape[1], len(tokenizer))
    assert torch.isfinite(out.logits).all()

    with torch.no_grad():
        generated = model.generate(**inputs, max_new_tokens=3, do_sample=False, min_new_tokens=3)
    assert generated.shape == (1, input_ids.shape[1] + 3)
    assert torch.equal(generated[:, : input_ids.shape[1]], input_ids)


def test_qwen2vl_processor_accepts_lmms_eval_pixel_overrides(built):
    """lmms-eval's qwen2_vl passes ``max_pixels`` / ``min_pixels`` to ``AutoProcessor.from_pretrained``."""
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(built["qwen2vl"], max_pixels=28 * 28, min_pixels=28 * 28)
    prompt = processor.apply_chat_template(
        [{"role": "system", "content": "You are a helpful assistant."},
         {"role": "user", "content": [{"type": "image", "image": "x.jpg"}, {"type": "text", "text": "Hi"}]}],
        tokenize=False, add_generation_prompt=True,
    )
    assert prompt.endswith("<|vision_start|><|image_pad|><|vision_end|>Hi<|im_end|>\n<|im_start|>assistant\n")
    inputs = processor(images=[_image()], text=[prompt], return_tensors="pt")
    assert int((inputs["input_ids"] == processor.image_token_id).sum()) == 1  # capped at 28x28 -> 1 token


# --- 2. determinism ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path, kind):
    build = BUILDERS[kind]
    a, b, c = build(tmp_path / "a", seed=0), build(tmp_path / "b", seed=0), build(tmp_path / "c", seed=1)
    assert _sha256(a / "model.safetensors") == _sha256(b / "model.safetensors")
    assert _sha256(a / "tokenizer.json") == _sha256(b / "tokenizer.json")
    assert _sha256(a / "model.safetensors") != _sha256(c / "model.safetensors")
    assert sum(f.stat().st_size for f in a.iterdir()) < 20 * 2**20


def test_build_does_not_disturb_global_rng(tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    tiny.build_tiny_llava(tmp_path / "m", seed=7)
    assert torch.equal(torch.rand(3), expected)


# --- 3. ensure_tiny_model caches ---------------------------------------------------------------------------


def test_ensure_tiny_model_builds_once_and_then_reuses(tmp_path, monkeypatch):
    calls = []

    def counting(out_dir, seed=0):
        calls.append(seed)
        return tiny.build_tiny_llava(out_dir, seed=seed)

    monkeypatch.setitem(tiny._BUILDERS, "llava", counting)
    first = tiny.ensure_tiny_model("llava", cache_dir=tmp_path, seed=3)
    assert first == tmp_path / "tiny-models" / f"llava-v{tiny.TINY_VERSION}-s3"
    assert (first / "model.safetensors").is_file() and (first / tiny.STAMP_FILE).is_file()
    mtime = (first / "model.safetensors").stat().st_mtime_ns

    second = tiny.ensure_tiny_model("llava", cache_dir=tmp_path, seed=3)
    assert second == first and calls == [3]
    assert (second / "model.safetensors").stat().st_mtime_ns == mtime
    # no temporary build directories left behind next to the model
    assert [p.name for p in first.parent.iterdir()] == [first.name]


def test_ensure_tiny_model_default_cache_dir_and_unknown_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("VSFA_CACHE_DIR", str(tmp_path))
    monkeypatch.setitem(tiny._BUILDERS, "qwen2vl", lambda out_dir, seed=0: tiny._write_stamp(
        _fake_model(out_dir), "qwen2vl", seed))
    path = tiny.ensure_tiny_model("qwen2vl", seed=5)
    assert path == tmp_path / "tiny-models" / f"qwen2vl-v{tiny.TINY_VERSION}-s5"
    with pytest.raises(ValueError, match="unknown tiny model kind"):
        tiny.ensure_tiny_model("gpt2", cache_dir=tmp_path)


def test_ensure_tiny_model_loser_of_a_race_keeps_the_winners_copy(tmp_path, monkeypatch):
    """Simulate another process finishing first, between our build and our rename."""
    target = tmp_path / "tiny-models" / f"llava-v{tiny.TINY_VERSION}-s0"

    def racing(out_dir, seed=0):
        tiny._write_stamp(_fake_model(target), "llava", seed)  # the "other process"
        (target / "winner").write_text("1")
        tiny._write_stamp(_fake_model(out_dir), "llava", seed)

    monkeypatch.setitem(tiny._BUILDERS, "llava", racing)
    assert tiny.ensure_tiny_model("llava", cache_dir=tmp_path) == target
    assert (target / "winner").is_file()
    assert [p.name for p in target.parent.iterdir()] == [target.name]


def _fake_model(out_dir):
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.safetensors").write_bytes(b"")
    return out_dir


# --- 4. LLaMA-Factory's template machinery -----------------------------------------------------------------


def test_llamafactory_qwen2_vl_template_encodes_image_example(built):
    pytest.importorskip("llamafactory")
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.extras.constants import IMAGE_PLACEHOLDER
    from llamafactory.hparams import DataArguments
    from transformers import AutoProcessor, AutoTokenizer

    path = built["qwen2vl"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    vocab_before = len(tokenizer)

    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template="qwen2_vl"))
    assert len(tokenizer) == vocab_before  # nothing had to be added: no resize_vocab needed

    messages = [
        {"role": "user", "content": f"{IMAGE_PLACEHOLDER}What is in the image?"},
        {"role": "assistant", "content": "I'm sorry, but I cannot assist with your request."},
    ]
    images = [_image()]
    messages = template.mm_plugin.process_messages(messages, images, [], [], processor)
    prompt_ids, response_ids = template.encode_oneturn(tokenizer, messages)
    prompt_ids, _ = template.mm_plugin.process_token_ids(prompt_ids, None, images, [], [], tokenizer, processor)

    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert tokenizer.eos_token_id == im_end
    assert template.get_stop_token_ids(tokenizer) == [im_end]
    assert response_ids[-2:] == [im_end] + tokenizer.encode("\n", add_special_tokens=False)

    image_pad = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    n_pad = prompt_ids.count(image_pad)
    mm_inputs = template.mm_plugin.get_mm_inputs(images, [], [], [1], [0], [0], [prompt_ids], processor)
    assert n_pad == int(mm_inputs["image_grid_thw"].prod(-1).sum()) // 4 > 0
    start = prompt_ids.index(tokenizer.convert_tokens_to_ids("<|vision_start|>"))
    assert prompt_ids[start + 1 : start + 1 + n_pad] == [image_pad] * n_pad
    assert prompt_ids[start + 1 + n_pad] == tokenizer.convert_tokens_to_ids("<|vision_end|>")
    assert tokenizer.decode(response_ids, skip_special_tokens=True).strip() == messages[1]["content"]


def test_llamafactory_llava_template_encodes_image_example(built):
    pytest.importorskip("llamafactory")
    from llamafactory.data.template import get_template_and_fix_tokenizer
    from llamafactory.extras.constants import IMAGE_PLACEHOLDER
    from llamafactory.hparams import DataArguments
    from transformers import AutoProcessor, AutoTokenizer

    path = built["llava"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template="llava"))

    messages = [
        {"role": "user", "content": f"{IMAGE_PLACEHOLDER}What is in the image?"},
        {"role": "assistant", "content": "A cat."},
    ]
    messages = template.mm_plugin.process_messages(messages, [_image()], [], [], processor)
    prompt_ids, response_ids = template.encode_oneturn(tokenizer, messages)
    assert prompt_ids.count(tokenizer.convert_tokens_to_ids("<image>")) == 16
    assert response_ids[-1] == tokenizer.eos_token_id == tokenizer.convert_tokens_to_ids("</s>")


# --- 5. every family of the matrix (tests/test_families.py) loads as its own architecture -------------

FAMILY_CLASSES = {
    "qwen2_5vl": ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor", 4),  # 64x48 px -> 56x56 -> 2x2
    "qwen3vl": ("Qwen3VLForConditionalGeneration", "Qwen3VLProcessor", 4),  # -> 64x64 -> 2x2 of 32 px
    "llava_next_mistral": ("LlavaNextForConditionalGeneration", "LlavaNextProcessor", None),
}


@pytest.mark.parametrize("kind", sorted(FAMILY_CLASSES))
def test_family_loads_as_its_architecture_and_runs_image_and_text_only(kind, tiny_model):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model_cls, processor_cls, n_expected = FAMILY_CLASSES[kind]
    path = tiny_model(kind)
    model = AutoModelForImageTextToText.from_pretrained(path).eval()
    processor = AutoProcessor.from_pretrained(path)
    assert type(model).__name__ == model_cls and type(processor).__name__ == processor_cls
    image_token_id = getattr(model.config, "image_token_id", None) or model.config.image_token_index
    assert processor.tokenizer.convert_tokens_to_ids(processor.image_token) == image_token_id
    for with_image in (True, False):
        content = ([{"type": "image"}] if with_image else []) + [{"type": "text", "text": "What is in the image?"}]
        prompt = processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                               add_generation_prompt=True)
        inputs = processor(images=[_image().resize((64, 48))] if with_image else None, text=[prompt],
                           return_tensors="pt")
        n_image = int((inputs["input_ids"] == image_token_id).sum())
        if with_image:
            assert n_image == n_expected if n_expected else n_image > 16  # LLaVA-NeXT: base tile + any-res tiles
        else:
            assert n_image == 0
        with torch.no_grad():
            assert torch.isfinite(model(**inputs).logits).all()
    if kind == "llava_next_mistral":  # llava-hf/llava-v1.6-mistral-7b-hf's spacing, which our template trains on
        assert prompt == "[INST] What is in the image? [/INST]"


def test_yi_vl_is_a_llava_checkpoint_with_yi_vl_projector(tiny_model):
    import json

    from safetensors import safe_open

    path = tiny_model("yi_vl")
    config = json.loads((path / "config.json").read_text())
    assert config["model_type"] == "llava" and config["is_yi_vl_derived_model"] is True
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        shapes = {k.split("multi_modal_projector.")[1]: tuple(f.get_slice(k).get_shape())
                  for k in f.keys() if "multi_modal_projector." in k}
    assert shapes["linear_2.weight"] == shapes["linear_4.weight"] == (64,)  # LayerNorms, as in Yi-VL
    assert shapes["linear_1.weight"] == (64, 32) and shapes["linear_3.weight"] == (64, 64)


# --- 6. config.json is read alike by transformers 4.57 (the oldest supported pair) and 5.x --------------


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_config_json_carries_both_rope_spellings_and_loads_as_its_model_type(built, kind):
    import json

    from transformers import AutoConfig

    path = built[kind]
    text = json.loads((path / "config.json").read_text())["text_config"]
    if kind == "qwen2vl":
        params = {"rope_type": "default", "rope_theta": 1000000.0, "mrope_section": [2, 3, 3]}
        assert text["rope_scaling"] == {"rope_type": "default", "mrope_section": [2, 3, 3]}  # what 4.57 reads
        assert "model_type" not in text  # 4.57's Qwen2VLConfig would answer config.model_type from it
    else:
        params = {"rope_type": "default", "rope_theta": 10000.0}
        assert not text.get("rope_scaling") and text["model_type"] == "llama"  # 4.57 writes null
    assert text["rope_parameters"] == params and text["rope_theta"] == params["rope_theta"]

    config = AutoConfig.from_pretrained(path)
    assert config.model_type == ("qwen2_vl" if kind == "qwen2vl" else "llava")
    loaded = config.get_text_config()
    if int(transformers.__version__.split(".")[0]) >= 5:
        assert loaded.rope_parameters == params
    else:
        assert loaded.rope_theta == params["rope_theta"]
        assert (loaded.rope_scaling or {}).get("mrope_section") == params.get("mrope_section")


def test_rope_spellings_are_completed_from_either_version():
    v5 = {"rope_parameters": {"rope_type": "default", "rope_theta": 5e6, "mrope_section": [2, 3, 3],
                              "mrope_interleaved": True}}
    tiny._both_rope_spellings(v5)
    assert v5["rope_theta"] == 5e6
    assert v5["rope_scaling"] == {"rope_type": "default", "mrope_section": [2, 3, 3], "mrope_interleaved": True}

    v4 = {"rope_theta": 1e6, "rope_scaling": {"type": "default", "rope_type": "default", "mrope_section": [2, 3, 3]}}
    tiny._both_rope_spellings(v4)
    assert v4["rope_parameters"] == {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]}

    llama_v4 = {"rope_theta": 1e6, "rope_scaling": None}
    tiny._both_rope_spellings(llama_v4)
    assert llama_v4 == {"rope_theta": 1e6, "rope_scaling": None,
                        "rope_parameters": {"rope_type": "default", "rope_theta": 1e6}}
    untouched = {"hidden_size": 64}  # a vision config: no RoPE at all
    tiny._both_rope_spellings(untouched)
    assert untouched == {"hidden_size": 64}
