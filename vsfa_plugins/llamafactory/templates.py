"""Chat templates the papers' models need where LLaMA-Factory's stock template differs.

Which template to use per model family (also in the README):

| model family (paper)                      | template                   | note                                    |
|-------------------------------------------|----------------------------|-----------------------------------------|
| Qwen2-VL / Qwen2.5-VL Instruct (VSFA)     | ``qwen2_vl`` (stock)       | matches Qwen's chat template            |
| Qwen3-VL Instruct (VSFA)                  | ``qwen3_vl_nothink`` (stock)| ``qwen3_vl`` is for Thinking models    |
| LLaVA-1.5 (rejection-mix, VSFA)           | ``llava`` (stock)          | LLaVA's ``conv_vicuna_v1`` prompt       |
| LLaVA-1.6-Mistral (VSFA)                  | ``vsfa_llava_next_mistral``| ours: see below                         |
| Yi-VL (VSFA)                              | ``yi_vl`` (stock)          | an ``efficient_eos`` template           |

``vsfa_llava_next_mistral``: LLaVA-NeXT's ``conv_mistral_instruct`` (and the chat template shipped with
``llava-hf/llava-v1.6-mistral-7b-hf``) wraps a user turn as ``"[INST] {msg} [/INST]"`` — with a space
before ``[/INST]``; the stock ``llava_next_mistral`` template writes ``"[INST] {msg}[/INST]"``. Training
on the stock spacing teaches a prompt format the model never sees at inference in lmms-eval.
"""

from __future__ import annotations

from llamafactory.data.formatter import StringFormatter
from llamafactory.data.template import TEMPLATES, register_template

#: our template name -> (stock template it derives from, the format_user slots we use instead)
DERIVED_TEMPLATES = {
    "vsfa_llava_next_mistral": ("llava_next_mistral", ["[INST] {{content}} [/INST]"]),
}


def register_templates() -> list[str]:
    registered = []
    for name, (base_name, user_slots) in DERIVED_TEMPLATES.items():
        if name in TEMPLATES:
            continue
        base = TEMPLATES[base_name]
        # LLaMA-Factory 0.9.5 added Template.preserve_thinking; 0.9.4 (the oldest we support) has no such field
        extra = {"preserve_thinking": base.preserve_thinking} if hasattr(base, "preserve_thinking") else {}
        register_template(
            name=name,
            format_user=StringFormatter(slots=user_slots),
            format_assistant=base.format_assistant,
            format_system=base.format_system,
            format_function=base.format_function,
            format_observation=base.format_observation,
            format_tools=base.format_tools,
            format_prefix=base.format_prefix,
            default_system=base.default_system,
            stop_words=list(base.stop_words),
            thought_words=base.thought_words,
            tool_call_words=base.tool_call_words,
            efficient_eos=base.efficient_eos,
            replace_eos=base.replace_eos,
            replace_jinja_template=base.replace_jinja_template,
            enable_thinking=base.enable_thinking,
            mm_plugin=base.mm_plugin,
            template_class=type(base),
            **extra,
        )
        registered.append(name)
    return registered
