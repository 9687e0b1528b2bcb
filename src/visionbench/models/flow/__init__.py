"""Optical-flow methods, learned and classical, all behind one interface.

``model(image1, image2)`` with two float ``B,3,H,W`` RGB batches in [0, 1] returns the ``B,2,H,W`` flow
(u = x displacement, v = y displacement, in pixels, from image 1 to image 2); learned networks may instead
return a dict whose ``"flow"`` entry is that tensor (plus their iteration/scale pyramid for the loss).
Sub-modules: one per network family, and :mod:`visionbench.models.flow.classical` for the parameter-free
methods (Lucas-Kanade, Horn-Schunck, correlation matching, OpenCV's Farneback and DIS). Each is built from
``conf/model/flow/<name>.yaml``.
"""
