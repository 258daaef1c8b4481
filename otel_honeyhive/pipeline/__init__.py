"""The one pipeline (trace assembly → mapping → delivery) every input hands its data to."""

from otel_honeyhive.pipeline.build import PipelineSettings, build_pipeline
from otel_honeyhive.pipeline.pipeline import Pipeline, PipelineStats

__all__ = ["Pipeline", "PipelineSettings", "PipelineStats", "build_pipeline"]
