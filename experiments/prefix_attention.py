"""Is a stage-3 model's LM cut off from its memory prefix, or does it read it and ignore it?

    python experiments/prefix_attention.py --run outputs/study/vlm2_dual_ground_align-s0

Printed, for the run's model:
- the gradient norm that the answer loss of one training video sends to the projector (zero would
  mean the prefix does not reach the loss);
- per LM layer, the attention mass on the prefix from the answer position (eager attention), mean
  over heads and over the video's questions;
- over every 12th test video: the share of the prefix tokens' energy in their global mean (a
  component common to every token of every video) and the share of the variance that lies between
  videos, for the prefix and for the cached H_t it is made from.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    from vlm2_agent.model import VLM2Streamer
    from vlm2_agent.model.tokenizer import prompt_batch
    from vlm2_agent.training.data import EpisodeVideoDataset, collate
    from vlm2_agent.training.features import EpisodeFeatureDataset, build_feature_cache

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--data-root", type=Path, default=Path("data/eqa"))
    p.add_argument("--stride", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(1)
    streamer = VLM2Streamer.from_pretrained(a.run / "model", device="cpu")
    model, tok = streamer.model, streamer.tokenizer

    def features(split):
        videos = EpisodeVideoDataset(a.data_root / split, a.stride)
        return EpisodeFeatureDataset(videos, build_feature_cache(model, videos, a.data_root / "features" / split,
                                                                 progress=False))

    item = features("train")[0]
    batch = {k: v for k, v in collate([item], tok, None, np.random.default_rng(0)).items() if isinstance(v, torch.Tensor)}
    model.train()
    out = model(**batch)
    model.zero_grad()
    out.lm_loss.backward()
    grad = torch.cat([p.grad.flatten() for n, p in model.named_parameters() if n.startswith("projector")]).norm()
    print(f"answer loss {out.lm_loss.item():.3f}; its gradient norm at the projector {grad.item():.2e}")

    model.eval()
    model.lm.set_attn_implementation("eager")
    with torch.no_grad():
        state = model.init_memory(1)
        model.observe_encoded(state, item.fused[None], None if item.coords is None else item.coords[None])
        prefix, pmask = model.memory_prefix(state)
        prompts = prompt_batch(tok, [q.prompt() for q in item.questions])
        embeds = torch.cat([prefix.expand(len(item.questions), -1, -1),
                            model.lm.get_input_embeddings()(prompts["input_ids"])], dim=1)
        mask = torch.cat([pmask.long().expand(len(item.questions), -1), prompts["attention_mask"]], dim=1)
        attentions = model.lm(inputs_embeds=embeds, attention_mask=mask, output_attentions=True).attentions
    for layer, att in enumerate(attentions):
        share = att[:, :, -1, : prefix.shape[1]].sum(-1).mean().item()
        print(f"LM layer {layer}: attention mass on the prefix from the answer position {share:.2f}")

    test = features("test")
    prefixes, fused = [], []
    with torch.no_grad():
        for i in range(0, len(test), 12):
            it = test[i]
            state = model.init_memory(1)
            model.observe_encoded(state, it.fused[None], None if it.coords is None else it.coords[None])
            pre, m = model.memory_prefix(state)
            prefixes.append(pre[0][m[0]].float().numpy())
            fused.append(it.fused.float().reshape(-1, it.fused.shape[-1]).numpy())

    def common_share(groups):
        x = np.concatenate(groups)
        return float((x.mean(0) ** 2).sum() / (x ** 2).sum(1).mean())

    def between_share(groups):
        x = np.concatenate(groups)
        return float(np.stack([g.mean(0) for g in groups]).var(0).sum() / x.var(0).sum())

    print(f"{len(prefixes)} test videos: prefix energy in the global mean {common_share(prefixes):.2f}, "
          f"between-video share of its variance {between_share(prefixes):.2f}; cached H_t: "
          f"{common_share(fused):.2f}, {between_share(fused):.2f}")


if __name__ == "__main__":
    main()
