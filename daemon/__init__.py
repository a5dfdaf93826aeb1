"""AI-STEM live's streaming daemon: frames in over ZeroMQ, class and uncertainty maps out.

``aistem serve`` (:class:`~aistem.daemon.server.Daemon`) connects to the acquisition program's frame socket,
analyses every frame with :func:`aistem.core.analyze` and publishes the results; ``aistem replay`` and
``aistem record`` publish and capture frame streams; :mod:`aistem.daemon.sources.client` lets an acquisition script
send frames and a viewer read results in a few lines.  The wire protocol is ``docs/protocol.md``
(:mod:`aistem.core.protocol`).

>>> from aistem.daemon.sources.client import publish_frame, iter_results
>>> publish_frame(image, pixel_size=0.12, series="scan-7")
>>> for r in iter_results(timeout=30): print(r.index, r.classes.shape)

Importing this package does not import Keras or TensorFlow.
"""

from aistem.core.protocol import FRAME_PROTOCOL, RESULT_PROTOCOL, Message, ProtocolError

from .sources.client import FramePublisher, iter_results, publish_frame, request

__all__ = [
    "FRAME_PROTOCOL",
    "RESULT_PROTOCOL",
    "FramePublisher",
    "Message",
    "ProtocolError",
    "iter_results",
    "publish_frame",
    "request",
]
