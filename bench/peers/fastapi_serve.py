#!/usr/bin/python3
"""The Python peer a user would write instead of piped's predict endpoint:
FastAPI + uvicorn + xgboost serving the same model file (XGBoost JSON) that
pipe trained, one booster with nthread 1, in-place prediction.
Adapted from ../shared/peers/fastapi_serve.py (which trains its own model).
Usage: fastapi_serve.py MODEL.json FEATURES(comma-separated) PORT"""
import sys

import numpy as np
import uvicorn
import xgboost as xgb
from fastapi import FastAPI, Request

booster = xgb.Booster(model_file=sys.argv[1])
booster.set_param({"nthread": 1})
features = sys.argv[2].split(",")
app = FastAPI()


@app.post("/api/v1/models/{name}/predict")
async def predict(name: str, request: Request):
    rows = (await request.json())["rows"]
    x = np.array([[r[f] for f in features] for r in rows], dtype=np.float32)
    p = booster.inplace_predict(x)
    return {"model": name, "version": 1, "predictions": [float(v) for v in p]}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[3]), log_level="error")
