import pytest

from loancrm.core.demo.intake import ensure_products
from loancrm.intake.services import ensure_default_workflow


@pytest.fixture
def products(org):
    ensure_default_workflow()
    return ensure_products()


@pytest.fixture
def customer(org, customers):
    """An individual customer of sales1 (银川一部)."""
    return customers.filter(owner=org["sales1"], customer_type="individual").order_by("id").first()
