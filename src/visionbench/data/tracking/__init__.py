"""Multi-object tracking data: MOTChallenge I/O, sequences and benchmarks, synthetic MOT, re-identification crops,
boxes and detections."""
