"""Page numbers exactly as the schema states them: an integer from 1."""

from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination


class PageNumbers(PageNumberPagination):
    # DRF reads an empty ?page= as page 1 and takes ?page=last; the schema
    # says a page is an integer, so anything else is refused like a page
    # past the end (404), not served.
    last_page_strings = ()

    def get_page_number(self, request, paginator):
        number = request.query_params.get(self.page_query_param, "1")
        if not (number.isascii() and number.isdigit() and number[0] != "0"):
            raise NotFound(self.invalid_page_message)
        return number

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
