"""Pack reader, make_batch (exact crops and pads on a hand-made pack), samplers, DataLoader."""

import pickle
from collections import Counter

import numpy as np
import pytest
import soundfile as sf
import torch

from wavetag.data import Batch, ClassBalancedSampler, Pack, PackDataset, ShuffledBatchSampler, make_batch, prepare
from wavetag.errors import ConfigError, DataError

SR = 16000
# clip -> (label, length); samples of clip k are 1000 * k + arange(length), so any window tells where it starts.
CLIPS = {"a/0.wav": ("a", 3000), "a/1.wav": ("a", 1600), "b/2.wav": ("b", 2000), "b/3.wav": ("b", 4000)}


def ramp(k: int, n: int) -> np.ndarray:
    return (1000 * k + np.arange(n)).astype(np.int16)


@pytest.fixture(scope="module")
def pack(tmp_path_factory) -> Pack:
    root = tmp_path_factory.mktemp("handmade")
    for rel, (_, n) in CLIPS.items():
        (root / "src" / rel).parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(root / "src" / rel), ramp(int(rel[2]), n), SR, subtype="PCM_16")
    prepare(root / "src", root / "pack", split="random", fractions=(1.0, 0.0, 0.0), progress=False, jobs=1)
    return Pack.open(root / "pack")


def test_pack_index_and_clips(pack):
    assert pack.labels == ["a", "b"] and len(pack) == 4 and pack.sample_rate == SR
    assert pack.index.path.tolist() == list(CLIPS)
    assert pack.index.length.tolist() == [n for _, n in CLIPS.values()]
    assert pack.index.offset.tolist() == [0, 3000, 4600, 6600]
    assert pack.index.label.tolist() == [0, 0, 1, 1]
    for k in range(4):
        np.testing.assert_array_equal(pack.clip(k), ramp(k, CLIPS[pack.index.path[k]][1]))
        np.testing.assert_array_equal(pack.waveform(k), ramp(k, len(pack.clip(k))) / np.float32(32768))
    assert pack.split_indices("train").tolist() == [0, 1, 2, 3] and pack.split_indices("test").tolist() == []
    assert pack.noise_bank().shape == (0,) and pack.noise_files() == []


def test_make_batch_start_crop_and_zero_padding(pack):
    batch = make_batch(pack, [0, 1, 3], num_samples=2000, crop="start")
    assert isinstance(batch, Batch) and batch.wav.shape == (3, 1, 2000) and batch.wav.dtype == torch.float32
    expected = np.zeros((3, 2000), np.int16)
    expected[0] = ramp(0, 2000)
    expected[1, :1600] = ramp(1, 1600)
    expected[2] = ramp(3, 2000)
    np.testing.assert_array_equal(batch.wav[:, 0].numpy(), expected / np.float32(32768))
    assert batch.length.tolist() == [2000, 1600, 2000]
    assert batch.target.tolist() == [0, 0, 1] and batch.target.dtype == torch.int64
    assert batch.index.tolist() == [0, 1, 3]


def test_make_batch_center_crop(pack):
    batch = make_batch(pack, [3, 0], num_samples=1000, crop="center")
    np.testing.assert_array_equal(batch.wav[0, 0].numpy() * 32768, ramp(3, 4000)[1500:2500])
    np.testing.assert_array_equal(batch.wav[1, 0].numpy() * 32768, ramp(0, 3000)[1000:2000])


def test_make_batch_pads_to_the_longest_without_num_samples(pack):
    batch = make_batch(pack, [1, 2], crop="random")
    assert batch.wav.shape == (2, 1, 2000) and batch.length.tolist() == [1600, 2000]
    assert not batch.wav[0, 0, 1600:].any()


def test_random_crop_is_uniform_over_valid_windows_and_seeded(pack):
    starts = []
    for seed in range(300):
        wav = make_batch(pack, [3], num_samples=3990, generator=np.random.default_rng(seed)).wav[0, 0].numpy()
        start = int(round(wav[0] * 32768)) - 3000
        np.testing.assert_array_equal(wav * 32768, ramp(3, 4000)[start : start + 3990])
        starts.append(start)
    assert set(starts) == set(range(11))  # every offset 0..10 occurs
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    b1 = make_batch(pack, [0, 3], num_samples=500, generator=g1)
    b2 = make_batch(pack, [0, 3], num_samples=500, generator=g2)
    assert torch.equal(b1.wav, b2.wav)


def test_make_batch_refuses_bad_arguments(pack):
    with pytest.raises(ConfigError, match="unknown crop 'middle'"):
        make_batch(pack, [0], num_samples=100, crop="middle")
    with pytest.raises(DataError, match="no indices"):
        make_batch(pack, [], num_samples=100)


def test_dataset_getitems_and_loader(pack):
    ds = PackDataset(pack, "train", num_samples=1600, crop="start")
    assert len(ds) == 4
    batch = ds.__getitems__([3, 1])
    assert batch.index.tolist() == [3, 1] and batch.wav.shape == (2, 1, 1600)
    seen = []
    for b in ds.loader(batch_size=3, shuffle=True, seed=0):
        assert isinstance(b, Batch) and b.wav.shape[1:] == (1, 1600)
        seen += b.index.tolist()
    assert sorted(seen) == [0, 1, 2, 3]
    item = ds[0]
    assert item.wav.shape == (1, 1, 1600)


def test_loader_with_a_worker_process(pack):
    ds = PackDataset(pack, "train", num_samples=1000, crop="start")
    batches = list(ds.loader(batch_size=2, shuffle=False, num_workers=1))
    assert [b.index.tolist() for b in batches] == [[0, 1], [2, 3]]


def test_pack_pickles_without_its_samples(pack):
    pack.clip(0)  # maps the audio
    blob = pickle.dumps(pack)
    assert len(blob) < 20_000
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again.clip(3), pack.clip(3))


def test_shuffled_sampler_covers_each_position_once_per_epoch():
    sampler = ShuffledBatchSampler(10, batch_size=4, seed=2)
    epoch0 = list(sampler)
    epoch1 = list(sampler)
    assert len(sampler) == 3 and [len(b) for b in epoch0] == [4, 4, 2]
    assert sorted(sum(epoch0, [])) == list(range(10)) and epoch0 != epoch1
    sampler.set_epoch(1)
    assert list(sampler) == epoch1  # a resumed run repeats the order
    assert len(ShuffledBatchSampler(10, batch_size=4, drop_last=True)) == 2


def test_class_balanced_sampler_balances_a_skewed_split(tmp_path):
    for i in range(40):
        label = "common" if i < 36 else "rare"
        (tmp_path / "src" / label).mkdir(parents=True, exist_ok=True)
        sf.write(str(tmp_path / "src" / label / f"{i}.wav"), np.full(1600, i, np.int16), SR)
    prepare(tmp_path / "src", tmp_path / "pack", split="random", fractions=(1, 0, 0), progress=False, jobs=1)
    ds = PackDataset(tmp_path / "pack", "train")
    sampler = ClassBalancedSampler(ds, batch_size=32, num_batches=100, seed=0)
    drawn = Counter(int(ds.targets[p]) for batch in sampler for p in batch)
    share_rare = drawn[ds.pack.labels.index("rare")] / sum(drawn.values())
    assert 0.46 < share_rare < 0.54  # 10 % of the clips, half of the draws
    rare_positions = set(np.flatnonzero(ds.targets == ds.pack.labels.index("rare")).tolist())
    assert rare_positions <= {p for batch in ClassBalancedSampler(ds, batch_size=32, num_batches=5) for p in batch}


def test_multi_label_batch_targets(tmp_path):
    for i in range(3):
        (tmp_path / "audio").mkdir(exist_ok=True)
        sf.write(str(tmp_path / "audio" / f"{i}.wav"), np.full(2000, i + 1, np.int16), SR)
    (tmp_path / "t.csv").write_text('fname,labels\n0.wav,"x,y"\n1.wav,y\n2.wav,z\n')
    prepare(
        tmp_path / "t.csv",
        tmp_path / "pack",
        audio_root=tmp_path / "audio",
        split="random",
        fractions=(1, 0, 0),
        progress=False,
    )
    pack = Pack.open(tmp_path / "pack")
    batch = make_batch(pack, [0, 1, 2], num_samples=2000)
    assert batch.target.dtype == torch.float32
    assert batch.target.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    sampler = ClassBalancedSampler(PackDataset(pack, "train"), batch_size=30, num_batches=50, seed=0)
    per_tag = Counter()
    for batch_positions in sampler:
        for p in batch_positions:
            per_tag.update(np.flatnonzero(pack.index.labels[p]).tolist())
    assert per_tag[2] > 300  # "z" (one clip of three) is drawn about a third of the time


def test_open_errors_say_what_to_do(tmp_path, pack):
    with pytest.raises(DataError, match="pack not found; create it with 'wavetag prepare"):
        Pack.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a wavetag pack"):
        Pack.open(tmp_path / "empty")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(pack.path, broken)
    with open(broken / "audio.int16", "r+b") as f:
        f.truncate(100)
    with pytest.raises(DataError, match="truncated.*--force"):
        Pack.open(broken)
    with pytest.raises(DataError, match="split 'dev'"):
        pack.split_indices("dev")


def test_epoch_order_balances_single_and_multi_label_packs(tmp_path):
    from wavetag.data.dataset import epoch_order

    for i in range(3):
        (tmp_path / "audio").mkdir(exist_ok=True)
        sf.write(str(tmp_path / "audio" / f"{i}.wav"), np.full(2000, i + 1, np.int16), SR)
    (tmp_path / "t.csv").write_text('fname,labels\n0.wav,"x,y"\n1.wav,y\n2.wav,z\n')
    prepare(tmp_path / "t.csv", tmp_path / "pack", audio_root=tmp_path / "audio", split="random", fractions=(1, 0, 0))
    pack = Pack.open(tmp_path / "pack")
    train = np.repeat(pack.split_indices("train"), 100)  # 300 draws per epoch
    plain = epoch_order(pack, train, seed=0, epoch=0)
    assert sorted(plain.tolist()) == sorted(train.tolist())
    drawn = epoch_order(pack, train, seed=0, epoch=0, balanced=True)
    per_tag = pack.index.labels[drawn].sum(axis=0)  # "z" is on one clip of three, drawn a third of the time
    assert len(drawn) == 300 and per_tag[2] == 100
    assert np.array_equal(drawn, epoch_order(pack, train, seed=0, epoch=0, balanced=True))  # seeded


def test_balanced_epoch_order_of_a_single_label_pack_is_the_loops_draw(pack):
    """The draw the training loop made before the sampler moved here, kept bit for bit (resume)."""
    from wavetag.data.dataset import epoch_order

    train = pack.split_indices("train")
    rng = np.random.default_rng([3, 2, 7])
    labels = pack.index.label[train]
    per_class = -(-len(train) // len(np.unique(labels)))
    picks = np.concatenate([rng.choice(train[labels == c], per_class, replace=True) for c in np.unique(labels)])
    assert np.array_equal(
        epoch_order(pack, train, seed=3, epoch=2, balanced=True), rng.permutation(picks)[: len(train)]
    )
