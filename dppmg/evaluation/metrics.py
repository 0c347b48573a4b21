"""Evaluation metrics of personalized multimodal generation (README, "Stage 3 and evaluation").

Every function works on plain arrays / strings and returns per-user values where a paired test
needs them. Maintained implementations are used where they exist: SSIM from scikit-image,
ROUGE-L from ``rouge-score``, BLEU from ``sacrebleu``.

=============================  ==============================================================
metric                         definition
=============================  ==============================================================
image personalization          mean cosine of the generated image's EfficientNet-Lite0 features
                               to the features of the user's test items / history items
SSIM to target                 mean SSIM of the generated image to the user's test-item images
                               (same 32x48 resolution, RGB, 7x7 window)
text personalization           ROUGE-L F1 and sentence BLEU against the user's test-item texts
                               (best over the references); mean MiniLM cosine to test / history
cross-modal consistency        evaluator score of the (generated image, generated text) pair;
                               retrieval accuracy: the text's own image is the evaluator's best
                               among a batch of generated images
quality                        KID (headline): unbiased MMD² with a cubic polynomial kernel between
                               generated and real target images in EfficientNet-Lite0 feature space,
                               mean and std over subsets; the Fréchet distance, only with its sample
                               sizes beside it (biased upwards when n is small against 1,280 dims)
diversity                      distinct-n: unique n-grams / all n-grams over the generated texts
ground truth (synthetic)       fraction of generations showing the user's true colour / style
=============================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dppmg.errors import DPPMGError


def unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def mean_cosine_to_sets(generated: np.ndarray, item_feats: np.ndarray, item_sets: Sequence[np.ndarray]) -> np.ndarray:
    """Per user u: mean over i in ``item_sets[u]`` of cos(generated[u], item_feats[i]) (NaN if empty)."""
    if len(generated) != len(item_sets):
        raise DPPMGError(f"{len(generated)} generations but {len(item_sets)} item sets")
    gen, items = unit(generated), unit(item_feats)
    return np.array([float((items[s] @ g).mean()) if len(s) else np.nan for g, s in zip(gen, item_sets)])


def ssim(image: np.ndarray, target: np.ndarray) -> float:
    """Structural similarity of two ``uint8 (h, w, 3)`` images (1.0 for identical images)."""
    from skimage.metrics import structural_similarity

    if image.shape != target.shape:
        raise DPPMGError(f"SSIM needs equal shapes, got {image.shape} and {target.shape}")
    win = min(7, *(s if s % 2 else s - 1 for s in image.shape[:2]))
    return float(structural_similarity(image, target, channel_axis=-1, data_range=255, win_size=win))


def mean_ssim_to_sets(images: Sequence[np.ndarray], item_images: np.ndarray, item_sets: Sequence[np.ndarray]) -> np.ndarray:
    return np.array([float(np.mean([ssim(np.asarray(im), item_images[i]) for i in s])) if len(s) else np.nan
                     for im, s in zip(images, item_sets)])


_ROUGE = None


def rouge_l(candidate: str, references: Sequence[str]) -> float:
    """Best ROUGE-L F1 of ``candidate`` against any reference (1.0 for an identical text)."""
    global _ROUGE
    if _ROUGE is None:
        from rouge_score import rouge_scorer

        _ROUGE = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    if not references:
        raise DPPMGError("ROUGE-L needs at least one reference text")
    return max(_ROUGE.score(ref, candidate)["rougeL"].fmeasure for ref in references)


def bleu(candidate: str, references: Sequence[str]) -> float:
    """Sentence BLEU (sacrebleu, exponential smoothing) against all references, scaled to [0, 1]."""
    from sacrebleu.metrics import BLEU

    if not references:
        raise DPPMGError("BLEU needs at least one reference text")
    return BLEU(effective_order=True).sentence_score(candidate, list(references)).score / 100.0


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Unique word n-grams over all n-grams of ``texts`` (1.0 when nothing repeats)."""
    grams = [tuple(words[i:i + n]) for t in texts for words in [t.lower().split()] for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (0 for identical sets),

        FD = ||mu_a - mu_b||^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2}),

    with the cross term computed exactly and without a matrix square root of the d x d product:
    for centred features A (n_a x d) and B (n_b x d), tr((S_a S_b)^{1/2}) is the nuclear norm of
    A B^T over sqrt((n_a - 1)(n_b - 1)) (the nonzero eigenvalues of A^T A B^T B are the squared
    singular values of A B^T). With fewer samples than dimensions, as in every run here, the
    covariances are singular and this needs no regularisation.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if len(a) < 2 or len(b) < 2:
        raise DPPMGError("the Fréchet distance needs at least two samples per set")
    if a.shape[1] != b.shape[1]:
        raise DPPMGError(f"the Fréchet distance needs features of one dimension, got {a.shape[1]} and {b.shape[1]}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = a - mu_a, b - mu_b
    scale = np.sqrt((len(a) - 1) * (len(b) - 1))
    if min(len(a), len(b)) <= a.shape[1]:
        cross = np.linalg.svd(ca @ cb.T, compute_uv=False).sum() / scale
    else:
        def psd_sqrt(x: np.ndarray) -> np.ndarray:
            w, v = np.linalg.eigh(x.T @ x)
            return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
        cross = np.linalg.svd(psd_sqrt(ca) @ psd_sqrt(cb), compute_uv=False).sum() / scale
    trace_a, trace_b = (ca ** 2).sum() / (len(a) - 1), (cb ** 2).sum() / (len(b) - 1)
    return float(max(((mu_a - mu_b) ** 2).sum() + trace_a + trace_b - 2 * cross, 0.0))


def consistency_scores(model, image_feats: np.ndarray, text_feats: np.ndarray) -> np.ndarray:
    """Alignment score of each (generated image, generated text) pair under ``model``."""
    return model.score(image_feats, text_feats)


def retrieval_accuracy(model, image_feats: np.ndarray, text_feats: np.ndarray, batch_size: int = 16) -> dict[str, float]:
    """Per consecutive batch of generations: is each text's own image the model's best match?"""
    import torch

    hits, total = 0, 0
    for start in range(0, len(image_feats), batch_size):
        img = torch.as_tensor(image_feats[start:start + batch_size], dtype=torch.float32)
        txt = torch.as_tensor(text_feats[start:start + batch_size], dtype=torch.float32)
        if len(img) < 2:
            continue
        with torch.no_grad():
            best = model.similarity(img, txt).argmax(dim=1).numpy()
        hits += int((best == np.arange(len(img))).sum())
        total += len(img)
    if not total:
        raise DPPMGError("retrieval accuracy needs at least two generations")
    return {"accuracy": hits / total, "batch_size": batch_size, "chance": 1 / min(batch_size, total)}


def kernel_inception_distance(a: np.ndarray, b: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> dict[str, float]:
    """KID (Bińkowski et al., ICLR 2018, "Demystifying MMD GANs"): the unbiased estimate of the
    squared MMD between two feature sets with the kernel k(x, y) = (x·y / d + 1)³, averaged over
    ``subsets`` random subsets of ``min(subset_size, len(a), len(b))`` rows of each (0 in
    expectation for two samples of one distribution; it can be slightly negative).

    Returns the mean, the standard deviation over subsets and the sizes.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    m = min(subset_size, len(a), len(b))
    if m < 2:
        raise DPPMGError(f"KID needs at least two samples per set, got {len(a)} and {len(b)}")
    d = a.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(subsets)
    off = ~np.eye(m, dtype=bool)
    for s in range(subsets):
        x, y = a[rng.choice(len(a), m, replace=False)], b[rng.choice(len(b), m, replace=False)]
        kxx, kyy, kxy = (x @ x.T / d + 1) ** 3, (y @ y.T / d + 1) ** 3, (x @ y.T / d + 1) ** 3
        values[s] = kxx[off].mean() + kyy[off].mean() - 2 * kxy.mean()
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if subsets > 1 else 0.0,
            "subsets": subsets, "subset_size": m, "generated": len(a), "reference": len(b)}
