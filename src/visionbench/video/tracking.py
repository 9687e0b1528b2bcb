"""Video inference for multi-object tracking: a tracker fed the MOTChallenge detections of a video, writing boxes with
ids on the frames and the MOTChallenge result file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visionbench.data.errors import DatasetFormatError
from visionbench.data.tracking.boxes import Detections, xyxy_to_ltwh
from visionbench.data.tracking.mot_io import MotTable, read_mot_table, write_results
from visionbench.models.tracking.run import frame_detections
from visionbench.models.tracking.types import Tracker, Tracks
from visionbench.runner.errors import ConfigError
from visionbench.video.annotator import FrameAnnotator, VideoSettings
from visionbench.video.outputs import RunOutputs
from visionbench.video.sources import Frame
from visionbench.viz.annotate import tracks_frame

TrackRows = tuple[np.ndarray, np.ndarray, np.ndarray]
"""One frame's reported tracks: ids, boxes (left, top, width, height), scores."""


def video_detections(path: Path, num_frames: int, source: str) -> MotTable:
    """The detections file ``path`` (MOTChallenge ``det.txt`` layout), checked against the input's frame count: a
    row whose frame is beyond ``num_frames`` raises :class:`DatasetFormatError` naming the file, line and frame."""
    table = read_mot_table(path, "det")
    if len(table) and table.frames[-1] > num_frames:
        late = int(np.argmax(table.frames > num_frames))
        raise DatasetFormatError(
            f"{path}:{table.line_numbers[late]}: frame {table.frames[late]} is beyond the {num_frames} frames of "
            f"{source}: are these the detections of another video?"
        )
    return table


class TrackingAnnotator(FrameAnnotator):
    """Runs ``tracker`` (reset first) over the frames with each frame's detections from ``settings.detections``
    (frames numbered from 1 as in MOTChallenge); the frame image goes to trackers that embed crops
    (``tracker.needs_frames``: DeepSORT with an appearance encoder). Draws each reported track's box and id
    (:func:`~visionbench.viz.annotate.tracks_frame`) and writes every frame's tracks to ``tracks.txt`` in the
    official results format at the end.

    Tracking is sequential: the model stage updates the tracker frame after frame, in order.
    """

    kind = "tracks"

    def __init__(self, tracker: Tracker, settings: VideoSettings) -> None:
        if settings.detections is None:
            raise ConfigError(
                "task=tracking needs detections=<file>: the video's detections in the MOTChallenge det.txt layout "
                "(frame,-1,left,top,width,height,score; frames numbered from 1)"
            )
        table = video_detections(settings.detections, settings.num_frames, settings.source)
        self.detections = frame_detections(table, settings.num_frames)
        self.tracker = tracker
        self.tracker.reset()
        self.needs_frames = bool(getattr(tracker, "needs_frames", False))
        self.rows: list[tuple[int, TrackRows]] = []
        self.results: Path | None = None

    def open(self, outputs: RunOutputs) -> None:
        self.results = outputs.file("tracks.txt")

    def preprocess(self, frames: Sequence[Frame]) -> list[tuple[Detections, np.ndarray | None]]:
        return [(self.detections[frame.index], frame.image if self.needs_frames else None) for frame in frames]

    def infer(self, inputs: list[tuple[Detections, np.ndarray | None]]) -> list[Tracks]:
        return [self.tracker.update(detections, image) for detections, image in inputs]

    def postprocess(self, outputs: list[Tracks], frames: Sequence[Frame]) -> list[TrackRows]:
        return [(tracks.ids, xyxy_to_ltwh(tracks.boxes), tracks.scores) for tracks in outputs]

    def draw(self, frame: Frame, result: TrackRows) -> np.ndarray:
        ids, boxes, _ = result
        return tracks_frame(frame.image, boxes, ids)

    def save(self, frame: Frame, result: TrackRows) -> None:
        self.rows.append((frame.index + 1, result))

    def finish(self) -> None:
        frames = np.concatenate([np.full(len(ids), number, np.int64) for number, (ids, _, _) in self.rows])
        ids, boxes, scores = (np.concatenate([rows[part] for _, rows in self.rows]) for part in range(3))
        write_results(self.results, frames, ids, boxes.reshape(-1, 4), scores)
