"""End-to-end GUI flows on real widgets, real sources and the real exam store."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QDialogButtonBox, QMessageBox

from fada_desk.qt.live_view import LiveView
from fada_desk.qt.main_window import MainWindow
from fada_desk.sources import open_source
from fada_desk.sources.pump_stats import PumpState
from fada_desk.sources.synthetic import SyntheticLiveSource, decode_stamp
from fada_desk.storage import ExamStore

pytestmark = pytest.mark.gui


def screen_matches(view: LiveView, pixels: np.ndarray, step: int = 13) -> float:
    """Fraction of sampled image pixels whose on-screen colour equals the data.

    A sample is the screen pixel whose centre lies in image pixel (x, y); at non-integer
    zoom the rounded position can land in the neighbour, so the centre is mapped back
    and samples that fall outside (x, y) are skipped rather than compared.
    """
    img = view.grab_image()
    dpr = img.devicePixelRatio()
    h, w = pixels.shape[:2]
    rgb = pixels if pixels.ndim == 3 else np.repeat(pixels[:, :, None], 3, axis=2)
    ok = total = 0
    for y in range(0, h, step):
        for x in range(0, w, step):
            p = view.image_to_widget(x + 0.5, y + 0.5)
            ax, ay = view.widget_to_image(p)
            cx, cy = view.widget_to_image(QPoint(p.x() + 1, p.y() + 1))
            bx, by = (ax + cx) / 2, (ay + cy) / 2  # image position of the screen pixel's centre
            if (int(bx), int(by)) != (x, y):
                continue
            c = img.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
            total += 1
            ok += (c.red(), c.green(), c.blue()) == tuple(int(v) for v in rgb[y, x])
    assert total > (h // step) * (w // step) // 2, "too few comparable samples"
    return ok / total


def fill_new_exam(dlg, patient_id: str, lmp_days_ago: int = 150) -> None:  # noqa: ANN001
    dlg.patient_id.setText(patient_id)
    dlg.name.setText("DOE^JANE")
    dlg.lmp_radio.setChecked(True)
    dlg.dating_date.set_value(dt.date.today() - dt.timedelta(days=lmp_days_ago))
    dlg.operator.setText("A. Sonographer")


def ok_button(dlg):  # noqa: ANN001, ANN201
    return dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)


def error_box(win: MainWindow) -> QMessageBox | None:
    boxes = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    return boxes[-1] if boxes else None


def test_open_freeze_scrub_capture_new_exam_and_reopen(qtbot, window, wait_for, data_path) -> None:  # noqa: ANN001
    path = data_path("video", "us_cine_sonosite_30f.mp4")
    window.open_uri(str(path))
    wait_for(lambda: window.pump is not None and window.shown_frame is not None)
    first = window.shown_frame.index
    wait_for(lambda: window.shown_frame.index != first)  # it plays
    assert window.pump.state == PumpState.PLAYING

    with open_source(path) as ref:
        f = window.shown_frame
        assert np.array_equal(window.view.image_item.image, ref.read(f.index).pixels)

        qtbot.keyClick(window, Qt.Key.Key_Space)
        assert window.pump.frozen and window.cine_bar.isVisible()
        assert "Frozen" in window.state_label.text()

        window.scrub_to(7)
        wait_for(lambda: window.shown_frame.index == 7)
        qtbot.wait(50)  # let it paint
        expected = ref.read(7).pixels
        assert np.array_equal(window.view.image_item.image, expected)
        assert screen_matches(window.view, expected) == 1.0
        qtbot.keyClick(window, Qt.Key.Key_Right)
        wait_for(lambda: window.shown_frame.index == 8)
        qtbot.keyClick(window, Qt.Key.Key_Left)
        wait_for(lambda: window.shown_frame.index == 7)

    # capture without an exam asks for one, then stores the frozen frame
    assert window.capture_still()
    dlg = window.exam_dialog
    wait_for(dlg.isVisible)
    fill_new_exam(dlg, "MRN-0001")
    assert dlg.ga_label.text().startswith("GA today: 21w3d")
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    item = saved.args[0]
    assert item.kind == "image" and item.frame_index == 7 and (item.width, item.height) == (320, 240)
    assert window.exam is not None and window.exam.patient_id == "MRN-0001"
    assert window.thumbs.count() == 1
    exam_id = window.exam.id
    window.close()

    # a new session: the exam browser finds the exam; reopening shows the capture
    win2 = MainWindow()
    qtbot.addWidget(win2)
    win2.resize(1000, 760)  # same size as the fixture's window: the docks leave the view enough room
    win2.show()
    browser = win2.open_exam_browser()
    wait_for(lambda: browser.table.rowCount() == 1)
    qtbot.keyClicks(browser.search_edit, "no-such-patient")
    wait_for(lambda: browser.table.rowCount() == 0)
    browser.search_edit.clear()
    qtbot.keyClicks(browser.search_edit, "MRN-0001")
    wait_for(lambda: browser.table.rowCount() == 1 and browser.status.text() == "1 exam")
    assert browser.table.item(0, 1).text() == "MRN-0001"
    assert browser.table.item(0, 5).text() == "1"
    with qtbot.waitSignal(win2.examChanged, timeout=30000):
        open_button = browser.buttons.button(QDialogButtonBox.StandardButton.Open)
        qtbot.mouseClick(open_button, Qt.MouseButton.LeftButton)
    assert win2.exam.id == exam_id
    wait_for(lambda: win2.thumbs.count() == 1)
    thumb = win2.thumbs.item(0)
    rect = win2.thumbs.visualItemRect(thumb)
    qtbot.mouseClick(win2.thumbs.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    wait_for(lambda: win2.shown_frame is not None)
    assert win2.review_item.id == item.id
    assert np.array_equal(win2.shown_frame.pixels, expected)  # bit-exact round trip
    qtbot.wait(50)
    assert screen_matches(win2.view, expected) == 1.0
    assert "Reviewing capture" in win2.state_label.text()
    win2.close()


def test_live_freeze_cine_scrub_and_save_clip(qtbot, window, wait_for) -> None:  # noqa: ANN001
    src = SyntheticLiveSource(160, 120, fps=60, color=True)
    window.open_source(src)
    wait_for(lambda: window.pump.stats().produced >= 40)
    assert window.pump.live and not window.cine_bar.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    p = window.pump
    assert p.frozen and window.cine_bar.isVisible()
    n = len(p.cine)
    assert window.cine_slider.maximum() == n - 1
    newest = decode_stamp(p.cine.get(n - 1).pixels)[0]
    wait_for(lambda: window.shown_frame is not None and decode_stamp(window.shown_frame.pixels)[0] == newest)

    window.scrub_to(5)
    want = decode_stamp(p.cine.get(5).pixels)[0]
    wait_for(lambda: decode_stamp(window.shown_frame.pixels)[0] == want)
    window.mark_in()
    window.scrub_to(14)
    window.mark_out()
    assert window.clip_range() == (5, 14)
    expected = [e.frame for e in p.cine.snapshot()[5:15]]

    window.save_clip()
    dlg = window.exam_dialog
    fill_new_exam(dlg, "MRN-CLIP")
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    item = saved.args[0]
    assert item.kind == "clip" and item.n_frames == 10
    assert item.fps == pytest.approx(60, rel=0.25)
    h = window.store_call(lambda store: list(store.iter_clip(item.id)), "check")
    with qtbot.waitSignal(h.finished, timeout=30000):
        pass
    stored = h.value
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(stored, expected, strict=True))

    # unfreeze: live again, the cine keeps growing
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert not p.frozen and not window.cine_bar.isVisible()
    wait_for(lambda: len(p.cine) > n)


def test_manual_calibration_on_frozen_frame_is_stored_with_the_capture(qtbot, window, wait_for,
                                                                       data_path) -> None:  # noqa: ANN001
    window.open_uri(str(data_path("dicom", "OBXXXX1A.dcm")))
    wait_for(lambda: window.shown_frame is not None)
    assert window.calibration_label.text().startswith("DICOM region")
    dicom_regions = window.shown_frame.calibration.regions

    assert window.start_calibration()
    view = window.view
    for x, y in ((100.0, 100.0), (100.0, 300.0)):
        qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=view.image_to_widget(x, y))
    dlg = window.calibration_dialog
    wait_for(dlg.isVisible)
    assert dlg.pixel_length == pytest.approx(200, abs=3)
    dlg.distance.setValue(50.0)
    qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    wait_for(lambda: window.calibration_label.text().startswith("Manual"))
    mm_per_px = window.active_calibration().manual.mm_per_px
    assert mm_per_px == pytest.approx(0.25, rel=0.02)
    assert f"{mm_per_px:.4f} mm/px" in window.calibration_label.text()

    window.capture_still()
    fill_new_exam(window.exam_dialog, "MRN-CAL")
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        qtbot.mouseClick(ok_button(window.exam_dialog), Qt.MouseButton.LeftButton)
    item = saved.args[0]
    assert item.calibration.manual is not None
    assert item.calibration.manual.distance_mm == 50.0
    assert item.calibration.regions == dicom_regions  # the DICOM regions are kept alongside
    assert item.calibration_version >= 1

    # recalibrating a reviewed capture updates the stored item (a new calibration version)
    window.show_item(item)
    wait_for(lambda: window.review_item is not None and window.shown_frame is not None)
    window.apply_manual_calibration((10.0, 10.0), (10.0, 110.0), 20.0)
    wait_for(lambda: window.review_item.calibration.manual.distance_mm == 20.0)
    h = window.store_call(lambda store: store.calibration_history(item.id), "history")
    with qtbot.waitSignal(h.finished, timeout=30000):
        pass
    manual = [r.calibration.manual.distance_mm for r in h.value if r.calibration and r.calibration.manual]
    assert manual[-2:] == [50.0, 20.0]
    assert "0.2000 mm/px" in window.calibration_label.text()
    qtbot.keyClick(window, Qt.Key.Key_Escape)  # back to the (frozen) acquisition
    wait_for(lambda: window.review_pump is None)


def test_bad_calibration_distance_is_refused(qtbot, window, wait_for) -> None:  # noqa: ANN001
    window.open_source(SyntheticLiveSource(64, 48, fps=30))
    wait_for(lambda: window.shown_frame is not None)
    assert window.apply_manual_calibration((5.0, 5.0), (5.5, 5.0), 10.0) is None  # points too close
    box = error_box(window)
    assert box is not None and "too close" in box.text()
    assert window.calibration_label.text() == "Uncalibrated"


def test_device_lost_and_reconnect_are_shown_and_window_survives(qtbot, window, wait_for) -> None:  # noqa: ANN001
    src = SyntheticLiveSource(96, 64, fps=60)
    window.open_source(src)
    wait_for(lambda: window.shown_frame is not None)
    src.interrupt()
    wait_for(lambda: "reconnecting" in window.state_label.text())
    assert error_box(window) is None  # a short drop-out is not an error yet
    src.restore()
    wait_for(lambda: window.state_label.text() == "Live")
    src.give_up()
    wait_for(lambda: error_box(window) is not None)
    assert "device lost" in error_box(window).text()
    assert window.state_label.text() == "Device lost"
    qtbot.keyClick(window, Qt.Key.Key_Space)  # freezing a lost device is refused politely
    assert "lost" in window.statusBar().currentMessage()
    # the window still works: capture the last image, open another source
    assert window.shown_frame is not None
    window.open_source(SyntheticLiveSource(96, 64, fps=60))
    wait_for(lambda: window.state_label.text() == "Live")


def test_bad_file_shows_error_and_window_survives(qtbot, window, wait_for, tmp_path, data_path) -> None:  # noqa: ANN001
    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"this is not a DICOM file at all" * 10)
    window.open_uri(str(bad))
    wait_for(lambda: error_box(window) is not None)
    assert "broken.dcm" in window.last_error
    assert window.pump is None
    window.open_uri(str(tmp_path / "missing.mp4"))
    wait_for(lambda: "missing.mp4" in window.last_error)
    window.open_uri(str(data_path("video", "us_cine_sonosite_30f.mp4")))
    wait_for(lambda: window.shown_frame is not None)


def test_real_stream_source_plays_live_with_stats(qtbot, window, wait_for, data_path) -> None:  # noqa: ANN001
    from fada_desk.sources.capture import StreamSource

    window.open_source(StreamSource(str(data_path("video", "us_cine_sonosite_30f.mp4"))))
    wait_for(lambda: window.pump.stats().produced >= 10)
    wait_for(lambda: window.shown_frame is not None)
    assert window.pump.live
    window.acquisition.update_status()
    assert "Source" in window.stats_label.text() and "fps" in window.stats_label.text()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.cine_bar.isVisible()
    window.close_source()
    assert window.pump is None and window.state_label.text() == "No source"


def test_open_device_dialog_passes_mode_to_the_source(qtbot, window, wait_for, monkeypatch) -> None:  # noqa: ANN001
    import fada_desk.sources as sources
    import fada_desk.sources.capture as capture
    from fada_desk.sources.capture import CaptureDevice

    monkeypatch.setattr(capture, "list_devices",
                        lambda: [CaptureDevice(0, "Webcam", "/dev/video0", "v4l2"),
                                 CaptureDevice(2, "USB3 HDMI grabber", "/dev/video2", "v4l2")])
    calls: list[tuple[str, dict]] = []

    def fake_open(uri: str, **options: object) -> SyntheticLiveSource:
        calls.append((uri, options))
        return SyntheticLiveSource(64, 48, fps=30)

    monkeypatch.setattr(sources, "open_source", fake_open)
    window.choose_device()
    wait_for(lambda: getattr(window, "device_dialog", None) is not None and window.device_dialog.isVisible())
    dlg = window.device_dialog
    assert dlg.device_combo.count() == 2
    dlg.device_combo.setCurrentIndex(1)
    dlg.resolution_combo.setCurrentIndex(dlg.resolution_combo.findText("1280 × 720 (720p)"))
    dlg.fps_combo.setCurrentIndex(dlg.fps_combo.findText("30"))
    dlg.fourcc_combo.setCurrentIndex(1)
    qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    wait_for(lambda: window.shown_frame is not None)
    assert calls == [("device:2", {"width": 1280, "height": 720, "fps": 30.0, "fourcc": "MJPG",
                                   "backend": "v4l2"})]


def test_open_device_failure_is_reported(qtbot, window, wait_for, monkeypatch) -> None:  # noqa: ANN001
    import fada_desk.sources.capture as capture
    from fada_desk.sources.capture import CaptureDevice

    monkeypatch.setattr(capture, "list_devices", lambda: [CaptureDevice(7, "Gone", "/dev/video7", "v4l2")])
    window.choose_device()
    wait_for(lambda: getattr(window, "device_dialog", None) is not None and window.device_dialog.isVisible())
    qtbot.mouseClick(ok_button(window.device_dialog), Qt.MouseButton.LeftButton)
    wait_for(lambda: error_box(window) is not None, timeout=20)
    assert "device" in window.last_error.lower()
    assert window.pump is None


def test_no_device_dialog_explains(qtbot, window, wait_for, monkeypatch) -> None:  # noqa: ANN001
    import fada_desk.sources.capture as capture

    monkeypatch.setattr(capture, "list_devices", lambda: [])
    window.choose_device()
    wait_for(lambda: getattr(window, "device_dialog", None) is not None and window.device_dialog.isVisible())
    assert not ok_button(window.device_dialog).isEnabled()
    window.device_dialog.reject()


def test_stream_url_dialog_validates(qtbot, window, wait_for, monkeypatch) -> None:  # noqa: ANN001
    import fada_desk.sources as sources

    opened: list[str] = []
    monkeypatch.setattr(sources, "open_source",
                        lambda uri, **o: opened.append(uri) or SyntheticLiveSource(32, 32, fps=30))
    dlg = window.choose_stream()
    dlg.url_edit.setText("ftp://scanner/video")
    qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    assert dlg.isVisible() and "Unsupported" in dlg.error_label.text()
    dlg.url_edit.setText("udp://127.0.0.1:5004")
    qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    wait_for(lambda: window.shown_frame is not None)
    assert opened == ["udp://127.0.0.1:5004"]
    assert window.settings.value("paths/last_stream") == "udp://127.0.0.1:5004"


def test_capture_cancelled_without_exam_saves_nothing(qtbot, window, wait_for) -> None:  # noqa: ANN001
    window.open_source(SyntheticLiveSource(64, 48, fps=30))
    wait_for(lambda: window.shown_frame is not None)
    saved: list[object] = []
    window.itemSaved.connect(saved.append)
    window.capture_still()
    window.exam_dialog.reject()
    qtbot.wait(100)
    assert not saved and window.exam is None
    assert "no exam" in window.statusBar().currentMessage().lower()


def test_new_exam_validation(qtbot, window) -> None:  # noqa: ANN001
    dlg = window.new_exam()
    qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    assert dlg.isVisible() and "Patient ID" in dlg.error_label.text()
    dlg.patient_id.setText("MRN-9")
    dlg.dating_date.set_value(dt.date.today() + dt.timedelta(days=3))  # LMP in the future
    qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    assert dlg.isVisible() and "after the exam date" in dlg.error_label.text()
    dlg.edd_radio.setChecked(True)
    dlg.dating_date.set_value(dt.date.today() + dt.timedelta(days=70))  # EDD in 10 weeks -> GA 30w0d
    assert "30w0d" in dlg.ga_label.text()
    if not dlg.operator.text():  # no operator remembered from an earlier exam: required
        qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
        assert dlg.isVisible() and "Operator is required" in dlg.error_label.text()
        dlg.operator.setText("A. Sonographer")
    with qtbot.waitSignal(window.examChanged, timeout=30000) as changed:
        qtbot.mouseClick(ok_button(dlg), Qt.MouseButton.LeftButton)
    exam = changed.args[0]
    assert exam.edd == dt.date.today() + dt.timedelta(days=70) and exam.lmp is None
    assert "MRN-9" in window.exam_label.text()


def test_store_contents_survive_for_another_process(qtbot, window, wait_for) -> None:  # noqa: ANN001
    """What the GUI stored is in the on-disk store (not only in the window)."""
    window.open_source(SyntheticLiveSource(80, 60, fps=30, color=False))
    wait_for(lambda: window.shown_frame is not None)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    wait_for(lambda: window.shown_frame is not None)
    frame = window.shown_frame
    window.capture_still()
    fill_new_exam(window.exam_dialog, "MRN-DISK")
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        qtbot.mouseClick(ok_button(window.exam_dialog), Qt.MouseButton.LeftButton)
    window.close()
    with ExamStore.open() as store:
        back = store.load_frame(saved.args[0].id)
    assert np.array_equal(back.pixels, frame.pixels) and back.pixels.ndim == 2


def test_stream_password_never_shown_or_stored_and_reopen(qtbot, window, wait_for, monkeypatch) -> None:  # noqa: ANN001
    import fada_desk.sources as sources

    opened: list[tuple[str, dict]] = []

    def fake_open(uri: str, **options: object) -> SyntheticLiveSource:
        opened.append((uri, options))
        return SyntheticLiveSource(32, 32, fps=30)

    monkeypatch.setattr(sources, "open_source", fake_open)
    window.open_uri("rtsp://clinic:s3cret@10.0.0.5/live")
    assert "s3cret" not in window.state_label.text()
    wait_for(lambda: window.shown_frame is not None)
    assert "s3cret" not in window.windowTitle()
    window.capture_still()
    fill_new_exam(window.exam_dialog, "MRN-RTSP")
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        qtbot.mouseClick(ok_button(window.exam_dialog), Qt.MouseButton.LeftButton)
    assert saved.args[0].source_uri == "rtsp://clinic:***@10.0.0.5/live"
    first = window.pump
    window.reopen_source()  # e.g. after "device lost": same URI (with its password), same options
    wait_for(lambda: window.pump is not first and window.pump is not None)
    assert opened[-1][0] == "rtsp://clinic:s3cret@10.0.0.5/live" and len(opened) == 2


def test_superseded_open_is_closed_not_shown(qtbot, window, wait_for, monkeypatch) -> None:  # noqa: ANN001
    """Opening B while A is still connecting: B is shown, A is closed when it finally opens."""
    import threading

    import fada_desk.sources as sources

    release, entered = threading.Event(), threading.Event()
    made: dict[str, SyntheticLiveSource] = {}

    def fake_open(uri: str, **options: object) -> SyntheticLiveSource:
        if uri == "udp://127.0.0.1:5001":
            entered.set()
            release.wait(20)  # a slow stream
        made[uri] = SyntheticLiveSource(32, 32, fps=30)
        return made[uri]

    monkeypatch.setattr(sources, "open_source", fake_open)
    window.open_uri("udp://127.0.0.1:5001")
    assert entered.wait(20)  # A is connecting (a job not yet started would simply be cancelled)
    window.open_uri("udp://127.0.0.1:5002")
    wait_for(lambda: window.shown_frame is not None)
    assert window.pump.source is made["udp://127.0.0.1:5002"]
    release.set()
    wait_for(lambda: "udp://127.0.0.1:5001" in made and made["udp://127.0.0.1:5001"].stats.state == "stopped")
    assert window.pump.source is made["udp://127.0.0.1:5002"]
