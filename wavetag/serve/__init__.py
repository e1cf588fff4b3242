"""HTTP service: FastAPI app over one `Predictor`, micro-batched, with a web page at ``/``.

from wavetag.serve import create_app
app = create_app("runs/kws/best")     # then: uvicorn, or `wavetag serve runs/kws`
"""

from wavetag.serve.app import create_app
from wavetag.serve.server import BackgroundServer, run

__all__ = ["create_app", "run", "BackgroundServer"]
