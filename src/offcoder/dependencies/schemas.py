from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class DependencyInstall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rebuild: bool = Field(
        default=False,
        description="Install again even where the layer was built from the same manifest",
    )


LayerStatus = Literal["none", "building", "ready", "failed"]


class DependencyLayerOut(BaseModel):
    """One of the project's dependency layers, as its owner sees it."""

    ecosystem: str = Field(description="`python` or `node`")
    manifest: str = Field(description="The file the layer is installed from")
    mount: str = Field(description="Where the project's jobs see it, read-only")
    status: LayerStatus = Field(
        description="`ready`: jobs mount it; `building`: an install is running (jobs mount the "
        "previous layer, if any, meanwhile); `failed`: the last install failed and there is no "
        "layer; `none`: never installed"
    )
    stale: bool = Field(description="The manifest changed (or is gone) since the layer was built")
    manifest_sha256: str | None
    size_bytes: int = Field(description="What the layer takes on the runtime host's disk")
    max_bytes: int = Field(
        description="The most a layer may take on this server: its install fails past it (or "
        "past the room left in your storage quota when it started, if less)"
    )
    built_at: datetime | None
    install_job_id: uuid.UUID | None = Field(description="The install that built the layer")
    building_job_id: uuid.UUID | None = Field(description="The install running now")
    failed_job_id: uuid.UUID | None = Field(
        description="The last install that failed (its log says why); the layer stayed as it was"
    )


class DependencyLayers(BaseModel):
    items: list[DependencyLayerOut]
