"""Captured items: lossless round trips, calibration, soft delete, damaged media."""

from __future__ import annotations

import hashlib
import itertools
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from store_helpers import HC18_IMAGE, random_frame

from fada_desk.core.calibration import Calibration, ManualCalibration, Region
from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import Cancelled, StorageError
from fada_desk.core.frame import Frame
from fada_desk.storage import Exam, ExamStore

DICOM_CAL = Calibration((Region(0, 0, 99, 79, 0.012, 0.012), Region(0, 80, 99, 119, 0.5, 0.01, 4, 7, 3, 3)),
                        source="dicom")


def _same(a: Frame, b: Frame) -> None:
    assert a.pixels.dtype == b.pixels.dtype == np.uint8
    assert a.pixels.shape == b.pixels.shape
    assert np.array_equal(a.pixels, b.pixels)


@pytest.mark.parametrize("shape", [(120, 100), (120, 100, 3), (1, 1), (1, 37, 3), (37, 1)])
def test_image_round_trip_bit_exact(store: ExamStore, exam: Exam, rng: np.random.Generator,
                                    shape: tuple[int, ...]) -> None:
    f = random_frame(rng, shape, index=17, timestamp=12.25, meta={"bits_stored": 8})
    item = store.add_image(exam.id, f, source_uri="file:///scan.dcm", meta={"Modality": "US"})
    assert (item.kind, item.n_frames, item.width, item.height, item.channels, item.exam_id) == (
        "image", 1, shape[1], shape[0], 3 if len(shape) == 3 else 1, exam.id)
    assert (item.frame_index, item.timestamp, item.source_uri, item.fps) == (
        17, 12.25, "file:///scan.dcm", None)
    assert item.meta == {"Modality": "US", "bits_stored": 8}
    path = store.media_file(item)
    assert path.suffix == ".png" and path.parent.name == exam.uid and path.parent.parent == store.media_root
    assert hashlib.sha256(path.read_bytes()).hexdigest() == item.sha256
    assert path.stat().st_size == item.size_bytes
    with Image.open(path) as img:  # a standard PNG any viewer can open
        assert img.mode == ("RGB" if len(shape) == 3 else "L") and img.size == (shape[1], shape[0])
    g = store.load_frame(item.id)
    _same(f, g)
    assert (g.index, g.timestamp, g.calibration) == (0, 12.25, None)
    assert g.meta["store_item_id"] == item.id and g.meta["source_index"] == 17 and g.meta["Modality"] == "US"
    assert store.list_items(exam.id) == [item] == [store.get_item(item.id)]


def test_extreme_values_and_real_ultrasound(store: ExamStore, exam: Exam) -> None:
    grad = np.tile(np.arange(256, dtype=np.uint8), (3, 1))
    for px in (grad, np.zeros((5, 7), np.uint8), np.full((5, 7, 3), 255, np.uint8),
               np.asarray(Image.open(HC18_IMAGE).convert("L"))):
        f = Frame(np.ascontiguousarray(px))
        _same(f, store.load_frame(store.add_image(exam.id, f).id))


@pytest.mark.parametrize("shape", [(64, 48), (64, 48, 3)])
def test_clip_round_trip_bit_exact(store: ExamStore, exam: Exam, rng: np.random.Generator,
                                   shape: tuple[int, ...]) -> None:
    frames = [random_frame(rng, shape, index=100 + i, timestamp=50.0 + i * 0.04, calibration=DICOM_CAL)
              for i in range(12)]
    item = store.add_clip(exam.id, frames, fps=25.0, source_uri="capture:0", meta={"probe": "C5-1"})
    assert (item.kind, item.n_frames, item.fps, item.frame_index, item.timestamp) == (
        "clip", 12, 25.0, 100, 50.0)
    assert item.duration_s == pytest.approx(12 / 25) and item.calibration == DICOM_CAL
    assert item.meta == {"probe": "C5-1"}
    path = store.media_file(item)
    assert path.suffix == ".npz" and hashlib.sha256(path.read_bytes()).hexdigest() == item.sha256
    loaded = list(store.iter_clip(item.id))
    assert len(loaded) == 12
    for i, (a, b) in enumerate(zip(frames, loaded, strict=True)):
        _same(a, b)
        assert (b.index, b.timestamp, b.calibration, b.meta["source_index"]) == (
            i, a.timestamp, DICOM_CAL, 100 + i)
    for i in (0, 5, 11):
        _same(frames[i], store.load_frame(item.id, i))
    with np.load(path, allow_pickle=False) as npz:  # plain NumPy can read it too
        assert np.array_equal(npz["frame_000003"], frames[3].pixels)
        assert np.array_equal(npz["timestamps"], [f.timestamp for f in frames])


def test_clip_fps_derived_from_timestamps_or_unknown(store: ExamStore, exam: Exam,
                                                     rng: np.random.Generator) -> None:
    live = [random_frame(rng, (8, 8), timestamp=1000.0 + i / 30) for i in range(7)]
    item = store.add_clip(exam.id, live, fps=None)
    assert item.fps == pytest.approx(30.0) and item.meta["fps_derived"] is True
    still_ts = [random_frame(rng, (8, 8)) for _ in range(3)]  # all timestamps 0: unknown rate
    assert store.add_clip(exam.id, still_ts, fps=None).fps is None
    assert store.add_clip(exam.id, still_ts[:1], fps=None).n_frames == 1


@pytest.mark.parametrize(("frames", "fps", "msg"), [
    ([], 25.0, "at least one frame"),
    ("abc", 25.0, "not a Frame"),
    ([np.zeros((4, 4), np.uint8)], 25.0, "not a Frame"),
    ([Frame(np.zeros((4, 4), np.uint8)), Frame(np.zeros((4, 5), np.uint8))], 25.0, "all frames must match"),
    ([Frame(np.zeros((4, 4), np.uint8)), Frame(np.zeros((4, 4, 3), np.uint8))], 25.0,
     "all frames must match"),
    ([Frame(np.zeros((4, 4), np.uint8))], 0, "frame rate"),
    ([Frame(np.zeros((4, 4), np.uint8))], float("nan"), "frame rate"),
    ([Frame(np.zeros((4, 4), np.uint8))], "25", "frame rate"),
])
def test_bad_clip_input(store: ExamStore, exam: Exam, frames: object, fps: object, msg: str) -> None:
    with pytest.raises(StorageError, match=msg):
        store.add_clip(exam.id, frames, fps)  # type: ignore[arg-type]
    assert store.list_items(exam.id) == []
    assert list(store.media_root.rglob("*.npz")) == []


def test_bad_image_input(store: ExamStore, exam: Exam) -> None:
    with pytest.raises(StorageError, match="not a Frame"):
        store.add_image(exam.id, np.zeros((4, 4), np.uint8))  # type: ignore[arg-type]
    with pytest.raises(StorageError, match="No exam #999"):
        store.add_image(999, Frame(np.zeros((4, 4), np.uint8)))
    with pytest.raises(StorageError, match="must be a dict"):
        store.add_image(exam.id, Frame(np.zeros((4, 4), np.uint8)), meta=[1])  # type: ignore[arg-type]
    assert store.list_items(exam.id) == []
    assert [p for p in store.media_root.rglob("*") if p.is_file() and ".locks" not in p.parts] == []


def test_odd_metadata_is_kept_as_json(store: ExamStore, exam: Exam) -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd!"

    f = Frame(np.zeros((4, 4), np.uint8), meta={"a": np.int16(3), "b": np.arange(3), "c": float("nan"),
                                                "d": b"\x00\x01", "e": Odd(), 7: (1, 2)})
    item = store.add_image(exam.id, f)
    assert item.meta == {"a": 3, "b": [0, 1, 2], "c": None, "d": "<2 bytes>", "e": "odd!", "7": [1, 2]}


def test_clip_job_progress_and_cancel(store: ExamStore, exam: Exam, rng: np.random.Generator) -> None:
    frames = [random_frame(rng, (16, 16)) for _ in range(5)]
    steps = list(store.add_clip_job(exam.id, frames, 10.0))
    assert len(steps) == 6 and [s.fraction for s in steps][-1] == 1.0
    assert all(a.fraction < b.fraction for a, b in itertools.pairwise(steps))  # type: ignore[operator]
    saved = steps[-1].payload
    assert saved.n_frames == 5 and store.list_items(exam.id) == [saved]

    token = CancelToken()
    job = store.add_clip_job(exam.id, frames, 10.0, token=token)
    next(job)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        next(job)
    job2 = store.add_clip_job(exam.id, frames, 10.0)
    next(job2)
    job2.close()  # consumer gave up (window closed)
    assert store.list_items(exam.id) == [saved]
    files = [p for p in store.media_root.rglob("*") if p.is_file() and ".locks" not in p.parts]
    assert files == [store.media_file(saved)]  # no temp file, no orphan


def test_calibration_round_trip_and_history(store: ExamStore, exam: Exam) -> None:
    f = Frame(np.zeros((120, 100), np.uint8), calibration=DICOM_CAL)
    item = store.add_image(exam.id, f)
    assert item.calibration == DICOM_CAL and item.calibration_version == 1
    assert store.load_frame(item.id).calibration == DICOM_CAL
    manual = DICOM_CAL.with_manual(ManualCalibration((10.0, 5.0), (10.0, 105.0), 40.0))
    item2 = store.set_calibration(item.id, manual)
    assert item2.calibration == manual and item2.calibration_version == 2
    loaded = store.load_frame(item.id)
    assert loaded.calibration == manual
    assert loaded.calibration.distance_mm((0, 0), (0, 50)) == pytest.approx(20.0)  # type: ignore[union-attr]
    item3 = store.set_calibration(item.id, None)
    assert item3.calibration is None and item3.calibration_version == 3
    hist = store.calibration_history(item.id)
    assert [(h.version, h.calibration, h.source) for h in hist] == [
        (1, DICOM_CAL, "dicom"), (2, manual, "manual"), (3, None, "")]
    assert item3.sha256 == item.sha256  # pixels untouched
    uncal = store.add_image(exam.id, Frame(np.zeros((4, 4), np.uint8)))
    assert uncal.calibration is None and uncal.calibration_version == 0
    assert store.calibration_history(uncal.id) == []
    with pytest.raises(StorageError, match="Not a calibration"):
        store.set_calibration(uncal.id, {"manual": None})  # type: ignore[arg-type]


def test_soft_delete_keeps_everything(store: ExamStore, exam: Exam, rng: np.random.Generator) -> None:
    f = random_frame(rng, (10, 10))
    a = store.add_image(exam.id, f)
    b = store.add_image(exam.id, f)
    d = store.delete_item(a.id)
    assert d.deleted and d.deleted_at is not None
    assert store.list_items(exam.id) == [b]
    assert [i.id for i in store.list_items(exam.id, include_deleted=True)] == [a.id, b.id]
    assert store.media_file(a).is_file()
    _same(f, store.load_frame(a.id))  # still loadable
    assert store.delete_item(a.id).deleted_at == d.deleted_at  # idempotent
    assert not store.restore_item(a.id).deleted
    assert [i.id for i in store.list_items(exam.id)] == [a.id, b.id]


def test_frame_index_out_of_range(store: ExamStore, exam: Exam, rng: np.random.Generator) -> None:
    img = store.add_image(exam.id, random_frame(rng, (4, 4)))
    clip = store.add_clip(exam.id, [random_frame(rng, (4, 4)) for _ in range(3)], 10.0)
    for item_id, bad in ((img.id, 1), (clip.id, 3), (clip.id, -1)):
        with pytest.raises(StorageError, match="there is no frame"):
            store.load_frame(item_id, bad)
    assert store.load_frame(clip.id, np.int64(2)).index == 2
    assert len(list(store.iter_clip(img.id))) == 1


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_missing_and_damaged_media_give_clear_errors(store: ExamStore, exam: Exam,
                                                     rng: np.random.Generator) -> None:
    img = store.add_image(exam.id, random_frame(rng, (32, 32)))
    clip = store.add_clip(exam.id, [random_frame(rng, (32, 32)) for _ in range(4)], 10.0)
    assert store.check() == []

    _flip_byte(store.media_file(img), store.media_file(img).stat().st_size // 2)
    with pytest.raises(StorageError, match=r"item #\d+ .*is damaged: its checksum"):
        store.load_frame(img.id)
    store.media_file(clip).unlink()
    with pytest.raises(StorageError, match="is missing"):
        store.load_frame(clip.id)
    with pytest.raises(StorageError, match="is missing"):
        store.iter_clip(clip.id)
    problems = store.check()
    assert len(problems) == 2 and "damaged" in problems[0] and "missing" in problems[1]


def test_damaged_clip_detected_even_after_verification(store: ExamStore, exam: Exam,
                                                       rng: np.random.Generator) -> None:
    clip = store.add_clip(exam.id, [random_frame(rng, (32, 32)) for _ in range(4)], 10.0)
    list(store.iter_clip(clip.id))  # verified and cached
    path = store.media_file(clip)
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("frame_000002.npy")
    _flip_byte(path, info.header_offset + 30 + len(info.filename) + 10)  # inside frame 2's data
    with pytest.raises(StorageError, match="damaged"):  # new size/mtime -> re-verified
        store.load_frame(clip.id, 0)
    path.write_bytes(path.read_bytes()[:100])  # truncated
    with pytest.raises(StorageError, match="damaged"):
        list(store.iter_clip(clip.id))


def test_operations_after_close(tmp_path: Path) -> None:
    s = ExamStore.open(tmp_path)
    s.close()
    s.close()
    assert s.closed
    with pytest.raises(StorageError, match="closed"):
        s.list_exams()
    with pytest.raises(StorageError, match="closed"):
        s.upsert_patient("A")


def test_disk_full_while_writing_media(store: ExamStore, exam: Exam, rng: np.random.Generator,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from fada_desk.storage import media as media_mod

    def full(pixels: np.ndarray, f: object) -> None:
        f.write(b"\x89PNG half")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(media_mod, "encode_png", full)
    with pytest.raises(StorageError, match="The disk is full: could not save the image"):
        store.add_image(exam.id, random_frame(rng, (8, 8)))
    assert store.list_items(exam.id) == []
    assert [p for p in store.media_root.rglob("*") if p.is_file() and ".locks" not in p.parts] == []
