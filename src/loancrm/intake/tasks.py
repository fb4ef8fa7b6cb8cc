"""Background work of intake: thin wrappers that call a service with ids."""

from huey.contrib.djhuey import db_task


@db_task()
def ocr_material(material_id: int) -> None:
    from .models import ApplicationMaterial
    from .services import material_run_ocr

    material = ApplicationMaterial.objects.select_related("attachment").filter(pk=material_id).first()
    if material is not None:
        material_run_ocr(material=material)
