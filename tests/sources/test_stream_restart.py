"""A live UDP MPEG-TS stream that stops and restarts mid-stream recovers inside one FramePump:
state goes playing -> reconnecting -> playing and frames flow again, the pump never restarted."""

from __future__ import annotations

import pytest

from fada_desk.sources.capture import StreamSource
from fada_desk.sources.pump import FramePump
from fada_desk.sources.pump_stats import PumpState

from .test_capture import _free_udp_port, _Sender
from .test_pump import take_until, wait_until


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_udp_stream_restart_recovers_in_the_pump() -> None:
    port = _free_udp_port()
    sender = _Sender(port)
    sender.start()
    pump: FramePump | None = None
    try:
        src = StreamSource(f"udp://127.0.0.1:{port}", open_timeout_s=8, read_timeout_s=1.0, give_up_s=15)
        pump = FramePump(src).start()
        take_until(pump, lambda f: True)
        wait_until(lambda: pump.state == PumpState.PLAYING, 5)
        thread = pump.thread

        sender.stop()  # the scanner's stream goes away mid-stream
        wait_until(lambda: pump.state == PumpState.RECONNECTING, 6)
        produced = pump.stats().produced

        sender.start()  # ... and comes back before the give-up time
        wait_until(lambda: pump.state == PumpState.PLAYING, 12)
        wait_until(lambda: pump.stats().produced > produced + 10, 6)
        assert take_until(pump, lambda f: True).pixels.shape == (240, 320, 3)
        assert pump.thread is thread and thread.is_alive()  # the same pump, never restarted
        assert pump.stats().reconnects == 1
    finally:
        sender.stop()
        if pump is not None:
            assert pump.close(), "pump thread did not stop within 1 s"
