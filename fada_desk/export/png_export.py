"""PNG export: one image per exported frame with the reviewed annotations burned in."""

from __future__ import annotations

from pathlib import Path

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.export.base import Exporter, Job, check, prepare_dir, write_atomic
from fada_desk.export.options import ExportOptions
from fada_desk.export.bundle import ExportBundle, ExportFrame
from fada_desk.export.overlay import measurement_text, render_overlay


def measurement_labels(bundle: ExportBundle) -> dict[str, str]:
    """Annotation id -> "HC 175.2 mm" for every measured annotation."""
    return {
        m.annotation_id: measurement_text(m.parameter, m.value_mm) for m in bundle.measurements if m.annotation_id
    }


def frame_overlay(bundle: ExportBundle, frame: ExportFrame):  # noqa: ANN201 - numpy array
    cls = frame.classification
    label = None
    if cls is not None:
        label = f"{cls.value} (pending review)" if cls.pending else str(cls.value)
    return render_overlay(
        frame.rgb(), frame.annotations, measurements=measurement_labels(bundle), classification=label
    )


def png_name(bundle: ExportBundle, frame: ExportFrame) -> str:
    return f"exam-{bundle.exam.id}_item-{frame.frame.item_id}_frame-{frame.frame.frame_index}.png"


class PngExporter(Exporter):
    name = "png"
    suffix = ".png"
    description = "One PNG per image with reviewed annotations and measurements burned in"

    def run(
        self, bundle: ExportBundle, out_dir: Path, options: ExportOptions, cancel: CancelToken | None = None
    ) -> Job:
        from PIL import Image

        out = prepare_dir(out_dir)
        paths: list[Path] = []
        n = len(bundle.frames)
        if n == 0:
            yield Progress("no images to export", 1.0)
            return paths
        for i, frame in enumerate(bundle.frames):
            check(cancel)
            rgb = frame_overlay(bundle, frame)
            path = out / png_name(bundle, frame)
            write_atomic(path, lambda p, a=rgb: Image.fromarray(a).save(p, format="PNG"))
            paths.append(path)
            yield Progress(f"wrote {path.name}", (i + 1) / n, path)
        return paths
