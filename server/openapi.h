// The HTTP API's OpenAPI 3 description (JSON), as GET /api/v1/openapi.json serves it.
#pragma once

namespace imprint::server {

const char* openapi_json();

}  // namespace imprint::server
