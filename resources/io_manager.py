"""Persist asset values (pydantic records) as JSON in the MediaStore. Media never goes through pickle."""

from dagster import ConfigurableIOManager, InputContext, OutputContext
from pydantic import BaseModel

from resources.errors import PipelineError
from resources.media.store import MediaStore


class JsonRecordIOManager(ConfigurableIOManager):
    """Stores each record at `records/<asset>/<partition>.json`, readable by people and tools alike."""

    media_store: MediaStore

    def _key(self, context: InputContext | OutputContext) -> str:
        asset = "/".join(context.asset_key.path)
        partition = context.partition_key if context.has_partition_key else "__unpartitioned__"
        return f"records/{asset}/{partition}.json"

    def handle_output(self, context: OutputContext, obj: object) -> None:
        if obj is None:
            return
        if not isinstance(obj, BaseModel):
            raise PipelineError(f"{context.asset_key.to_user_string()} returned {type(obj).__name__}, not a record")
        uri = self.media_store.write_text(self._key(context), obj.model_dump_json(indent=2))
        context.add_output_metadata({"record": uri})

    def load_input(self, context: InputContext) -> BaseModel:
        model = context.dagster_type.typing_type
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise PipelineError(f"input {context.name} must be annotated with its record type")
        text = self.media_store.read_text(self._key(context))
        if text is None:
            raise PipelineError(
                f"{context.asset_key.to_user_string()}[{context.partition_key}] has no stored record; "
                "materialize it first"
            )
        return model.model_validate_json(text)
