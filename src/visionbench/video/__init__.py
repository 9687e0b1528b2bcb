"""Running a model on images and videos (``infer.py``): frame sources decoded with PyAV or read as images
(:mod:`~visionbench.video.sources`), a threaded pipeline of stages with bounded queues
(:mod:`~visionbench.video.pipeline`), each problem's part (:mod:`~visionbench.video.annotator` and the
``segmentation``, ``flow`` and ``tracking`` modules, declared through the problem contract), the annotated video and
files written under temporary names (:mod:`~visionbench.video.outputs`), the throughput report
(:mod:`~visionbench.video.report`) and the entry point's run (:mod:`~visionbench.video.run`)."""
