"""Memory behaviour: bounded sizes, Algorithm 1 replacement, FIFO order, uniform sampling, resets."""

import numpy as np
import pytest
import torch

from vlm2_agent.model.memory import MemoryModule, episodic_update, fifo_push, pool_entry

DIM, GRID, ENTRY = 8, 2, 1


pytestmark = pytest.mark.usefixtures("single_torch_thread")


def make_memory(mode: str, lw: int = 3, le: int = 5, uniform: int = 4) -> MemoryModule:
    torch.manual_seed(0)
    return MemoryModule(DIM, 2, mode, GRID, ENTRY, lw, le, uniform).eval()


@torch.no_grad()
def test_dual_memory_stays_bounded_over_thousands_of_frames():
    mem = make_memory("dual")
    state = mem.init_state(2, DIM)
    gen = torch.Generator().manual_seed(1)
    for t in range(2000):
        m = mem.step(torch.randn(2, GRID * GRID, DIM, generator=gen), state)
        assert state.working.shape == (2, 3, 1, DIM) and state.episodic.shape == (2, 5, 1, DIM)
        assert int(state.working_count.max()) == min(t + 1, 3)
        assert int(state.episodic_count.max()) == min(t + 1, 5)
    assert torch.isfinite(m).all()
    tokens, mask, _ = mem.prefix(state)
    assert tokens.shape == (2, 5 + 3 + 1, DIM) and bool(mask.all())


@torch.no_grad()
def test_uniform_buffer_bounded_and_uniform_full_context_grows():
    uni, full = make_memory("uniform", uniform=4), make_memory("full_context")
    su, sf = uni.init_state(1, DIM), full.init_state(1, DIM)
    for t in range(1000):
        h = torch.full((1, GRID * GRID, DIM), float(t))  # entry value == frame index
        uni.update(h, h, su)
        full.update(h, h, sf)
        kept = [int(e[0, 0]) for e in su.frames[0]]
        stride = 1
        while t // stride + 1 > 4:  # smallest power of two that fits frames 0..t into 4 slots
            stride *= 2
        assert kept == list(range(0, t + 1, stride)), (t, kept)
    assert len(sf.frames[0]) == 1000


def test_episodic_update_replaces_most_similar_entry_numpy():
    rng = np.random.default_rng(0)
    bank = rng.normal(size=(3, 6, 2, 4)).astype(np.float32)
    entry = rng.normal(size=(3, 2, 4)).astype(np.float32)
    entry[1] = bank[1, 4] * 2.0 + 0.01  # nearly parallel to slot 4 of episode 1
    flat, e = bank.reshape(3, 6, -1), entry.reshape(3, 1, -1)
    cos = (flat * e).sum(-1) / (np.linalg.norm(flat, axis=-1) * np.linalg.norm(e, axis=-1))
    expected = cos.argmax(axis=1)
    count = torch.tensor([6, 6, 2])  # episode 2 is not full yet: append at slot 2
    new, new_count, slot = episodic_update(torch.from_numpy(bank), count, torch.from_numpy(entry))
    assert slot.tolist() == [expected[0], 4, 2]
    assert new_count.tolist() == [6, 6, 3]
    for b, s in enumerate(slot.tolist()):
        want = bank[b].copy()
        want[s] = entry[b]
        np.testing.assert_array_equal(new[b].numpy(), want)


def test_fifo_keeps_newest_right_aligned():
    bank, count = torch.zeros(1, 3, 1, 1), torch.zeros(1, dtype=torch.long)
    for v in range(1, 6):
        bank, count = fifo_push(bank, count, torch.full((1, 1, 1), float(v)))
    assert bank.flatten().tolist() == [3.0, 4.0, 5.0] and count.tolist() == [3]


def test_pool_entry_averages_grid_cells():
    tokens = torch.arange(16.0).view(1, 16, 1)  # 4x4 grid, row-major
    pooled = pool_entry(tokens, 4, 2).flatten().tolist()
    assert pooled == [(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4, (8 + 9 + 12 + 13) / 4, (10 + 11 + 14 + 15) / 4]


@torch.no_grad()
def test_dual_read_is_gated_mix_of_working_and_episodic_reads():
    mem = make_memory("dual")
    state = mem.init_state(1, DIM)
    for _ in range(7):
        mem.step(torch.randn(1, GRID * GRID, DIM), state)
    h = torch.randn(1, GRID * GRID, DIM)
    m_w = mem.read_working(h, state.working.flatten(1, 2))
    m_e = mem.read_episodic(h, state.episodic.flatten(1, 2))
    gamma = torch.sigmoid(mem.gate(torch.cat([m_w, m_e], -1)))
    torch.testing.assert_close(mem.read(h, state), gamma * m_w + (1 - gamma) * m_e)


@torch.no_grad()
def test_empty_memory_read_is_finite_and_reset_clears_only_flagged_episodes():
    mem = make_memory("dual")
    state = mem.init_state(2, DIM)
    assert torch.isfinite(mem.read(torch.randn(2, GRID * GRID, DIM), state)).all()
    for _ in range(4):
        mem.step(torch.randn(2, GRID * GRID, DIM), state)
    state.reset_episodes(torch.tensor([True, False]))
    assert state.working_count.tolist() == [0, 3] and state.episodic_count.tolist() == [0, 4]
    assert state.frame_index.tolist() == [0, 4] and float(state.working[0].abs().sum()) == 0.0


@pytest.mark.parametrize("mode", ["none", "working", "episodic", "dual", "uniform", "full_context"])
@torch.no_grad()
def test_every_mode_steps_and_builds_prefix(mode):
    mem = make_memory(mode)
    state = mem.init_state(2, DIM)
    for _ in range(3):
        m = mem.step(torch.randn(2, GRID * GRID, DIM), state)
    tokens, mask, segment = mem.prefix(state)
    assert m.shape == (2, GRID * GRID, DIM) and tokens.shape[:2] == mask.shape and segment[-1] == 2


@torch.no_grad()
@pytest.mark.parametrize("mode", ["dual", "working", "none", "uniform", "full_context"])
def test_entry_positions_follow_their_entries(mode):
    """Every prefix token's [x, y, z, w] is the centroid of the frame that wrote that token: the
    frame is identified independently, by matching the token's features against all frames'."""
    mem = make_memory(mode, lw=3, le=4, uniform=4)
    state = mem.init_state(1, DIM)
    gen = torch.Generator().manual_seed(3)
    entries, positions = [], []
    for t in range(40):
        h = torch.randn(1, GRID * GRID, DIM, generator=gen)
        coords = torch.tensor([[[float(t), -1.0, 2.0 * t, 1.0]]])  # frame t's entry centroid
        m = mem.step(h, state, coords)
        entries += [pool_entry(h, GRID, ENTRY)[0, 0], pool_entry(m, GRID, ENTRY)[0, 0]]
        positions += [coords[0, 0], coords[0, 0]]
    tokens, mask, _ = mem.prefix(state)
    xyzw = mem.prefix_coords(state)
    assert xyzw.shape[:2] == tokens.shape[:2]
    bank = torch.stack(entries)
    for token, valid, pos in zip(tokens[0], mask[0], xyzw[0]):
        if not valid:
            assert float(pos[3]) == 0.0
            continue
        writer = int(torch.cdist(token[None], bank).argmin())
        assert torch.equal(pos, positions[writer])
    if mode == "dual":  # the episodic bank holds old frames, the working bank the last 3 only
        assert sorted(xyzw[0, 4:7, 0].tolist()) == [37.0, 38.0, 39.0]
    state.reset_episodes(torch.tensor([True]))
    if state.working_coords is not None:
        assert float(state.working_coords.abs().sum()) == 0.0


@torch.no_grad()
def test_entry_positions_from_geometry_are_valid_weighted_centroids():
    from vlm2_agent.model.memory import pool_coords

    coords = torch.tensor([[[1.0, 0, 0], [3.0, 0, 0], [float("nan"), 0, 0], [0.0, 0, 5.0]]])
    valid = torch.tensor([[[1.0], [0.5], [0.0], [0.5]]])
    out = pool_coords(coords, valid, 2, 1)[0, 0]
    # (1*1 + 3*0.5 + 0*0.5) / 2 = 1.25; z: 5*0.5/2 = 1.25; w = mean valid = 0.5
    assert torch.allclose(out, torch.tensor([1.25, 0.0, 1.25, 0.5]))
