"""Anomaly and forecast detection: Detector protocol, algorithms, streaming runner, backtesting.

Public entry points:
  `load_detector_files(paths) -> (specs, errors)`   (watchdog.detect.spec)
  `DetectorRunner`                                   (watchdog.detect.runner)
  `build_detector(spec)`                             (watchdog.detect.registry)
"""
