// The HTTP API's OpenAPI 3 description, served at /api/v1/openapi.json. tests/server_test checks
// live answers against it (every documented object closed with additionalProperties: false, so a
// field the document does not name fails), so the two cannot drift apart silently.
#include "openapi.h"

namespace imprint::server {

const char* openapi_json() {
  return R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "imprint HTTP API",
    "version": "1",
    "description": "Finds copies of registered works. The gRPC API (server/proto/imprint/v1/imprint.proto) is the full one; this HTTP side matches uploads, registers, lists and removes works (bodies and answers in protobuf's JSON mapping of the same messages), lists usage, checks pictures for creators and serves health, metrics and thumbnails. Every error is a JSON Error whose code is the gRPC status name the same refusal gets over gRPC. Every answer carries X-Request-Id (the caller's, or a new one)."
  },
  "components": {
    "securitySchemes": {
      "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (imprint keys add); needed when the server runs with --keys."}
    },
    "responses": {
      "CatalogError": {"description": "an error, its code the gRPC status name: 400 INVALID_ARGUMENT (field names the part at fault), 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 409 ALREADY_EXISTS, 413 RESOURCE_EXHAUSTED, 429 over the key's rate limit (Retry-After), 503 busy, 504 DEADLINE_EXCEEDED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "parameters": {
      "RequestId": {"name": "X-Request-Id", "in": "header", "required": false, "schema": {"type": "string", "maxLength": 128}, "description": "1 to 128 printable ASCII characters, no spaces; echoed in the answer and kept in the access log and usage events."}
    },
    "schemas": {
      "Error": {
        "type": "object", "additionalProperties": false, "required": ["code", "message"],
        "properties": {
          "code": {"type": "string", "description": "gRPC status name: INVALID_ARGUMENT, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNAVAILABLE, INTERNAL; MISDIRECTED_REQUEST for 421"},
          "message": {"type": "string"},
          "field": {"type": "string", "description": "The request field at fault, for INVALID_ARGUMENT."}
        }
      },
      "Terms": {
        "oneOf": [
          {"type": "string", "enum": ["deny", "allow"]},
          {"type": "object", "additionalProperties": false, "required": ["licensed"],
           "properties": {"licensed": {"type": "array", "items": {"type": "string"}}}}
        ]
      },
      "Licence": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "ai-training": {"$ref": "#/components/schemas/Terms"},
          "commercial": {"$ref": "#/components/schemas/Terms"},
          "any-use": {"$ref": "#/components/schemas/Terms"}
        }
      },
      "Metadata": {
        "type": "object", "additionalProperties": {"type": "string", "maxLength": 4096},
        "description": "the registrant's own fields, as registered"
      },
      "Explanation": {
        "type": "object", "additionalProperties": false,
        "required": ["evidence", "measure", "value", "match_line", "review_line", "weak_query", "purpose", "permission", "licensee_named"],
        "properties": {
          "evidence": {"type": "string", "enum": ["copy", "near-miss", "none"]},
          "measure": {"type": "string", "enum": ["pdq-distance", "score", "same-bytes", "vpdq-percent", "aligned-seconds"]},
          "value": {"type": "number"},
          "match_line": {"type": "number"},
          "review_line": {"type": "number"},
          "weak_query": {"type": "boolean"},
          "purpose": {"type": "string", "enum": ["ai-training", "commercial", "any-use"]},
          "permission": {"type": "string", "enum": ["deny", "allow", "licensed"]},
          "licensee_named": {"type": "boolean"}
        }
      },
      "Box": {"type": "array", "items": {"type": "integer"}, "minItems": 4, "maxItems": 4, "description": "x, y, width, height in pixels"},
      "Region": {
        "type": "object", "additionalProperties": false, "required": ["query_box", "work_box", "work_corners_in_query"],
        "properties": {
          "query_box": {"$ref": "#/components/schemas/Box"},
          "work_box": {"$ref": "#/components/schemas/Box"},
          "work_corners_in_query": {"type": "array", "items": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}}
        }
      },
      "ImageMatch": {
        "type": "object", "additionalProperties": false,
        "required": ["work_id", "title", "owner", "distance", "score", "transform", "method", "decision", "flagged", "licence", "metadata", "explanation"],
        "properties": {
          "work_id": {"type": "string"},
          "title": {"type": "string"},
          "owner": {"type": "string"},
          "distance": {"type": "integer", "nullable": true, "description": "PDQ distance; null for local-features"},
          "score": {"type": "number", "minimum": 0, "maximum": 1},
          "transform": {"type": "string"},
          "method": {"type": "string", "enum": ["sha256", "pdq", "local-features", "pdq-region"]},
          "decision": {"type": "string", "enum": ["flag", "allow", "review", "none"]},
          "flagged": {"type": "boolean"},
          "licence": {"$ref": "#/components/schemas/Licence"},
          "metadata": {"$ref": "#/components/schemas/Metadata"},
          "explanation": {"$ref": "#/components/schemas/Explanation"},
          "region": {"$ref": "#/components/schemas/Region"}
        }
      },
      "ImageMatchResult": {
        "type": "object", "additionalProperties": false,
        "required": ["path", "pdq", "quality", "weak", "decision", "matches"],
        "properties": {
          "path": {"type": "string", "description": "the name parameter"},
          "pdq": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
          "quality": {"type": "integer", "minimum": 0, "maximum": 100},
          "weak": {"type": "boolean"},
          "decision": {"type": "string", "enum": ["flag", "allow", "review", "none"]},
          "matches": {"type": "array", "items": {"$ref": "#/components/schemas/ImageMatch"}}
        }
      },
      "VideoSegment": {
        "type": "object", "additionalProperties": false,
        "required": ["query_start", "query_end", "work_start", "work_end", "frames", "speed"],
        "properties": {
          "query_start": {"type": "number"}, "query_end": {"type": "number"},
          "work_start": {"type": "number"}, "work_end": {"type": "number"},
          "frames": {"type": "integer"}, "speed": {"type": "number"}
        }
      },
      "VideoMatch": {
        "type": "object", "additionalProperties": false,
        "required": ["work_id", "title", "owner", "distance", "score", "transform", "method", "decision", "flagged", "licence", "metadata", "media", "explanation"],
        "properties": {
          "work_id": {"type": "string"},
          "title": {"type": "string"},
          "owner": {"type": "string"},
          "distance": {"type": "integer", "nullable": true},
          "score": {"type": "number", "minimum": 0, "maximum": 1},
          "transform": {"type": "string"},
          "method": {"type": "string", "enum": ["vpdq", "sha256", "video-frame"]},
          "decision": {"type": "string", "enum": ["flag", "allow", "review", "none"]},
          "flagged": {"type": "boolean"},
          "licence": {"$ref": "#/components/schemas/Licence"},
          "metadata": {"$ref": "#/components/schemas/Metadata"},
          "media": {"type": "string", "enum": ["video"]},
          "explanation": {"$ref": "#/components/schemas/Explanation"},
          "work_time": {"type": "number", "description": "video-frame: the second of the work the still shows"},
          "query_match_pct": {"type": "number"},
          "work_match_pct": {"type": "number"},
          "matched_frames": {"type": "integer"},
          "work_duration": {"type": "number"},
          "segments": {"type": "array", "items": {"$ref": "#/components/schemas/VideoSegment"}}
        }
      },
      "VideoMatchResult": {
        "type": "object", "additionalProperties": false,
        "required": ["path", "media", "fps", "duration", "frames", "partial", "weak", "decision", "matches"],
        "properties": {
          "path": {"type": "string"},
          "media": {"type": "string", "enum": ["video"]},
          "fps": {"type": "number"},
          "duration": {"type": "number"},
          "frames": {"type": "integer"},
          "partial": {"type": "boolean"},
          "partial_reason": {"type": "string"},
          "weak": {"type": "boolean"},
          "decision": {"type": "string", "enum": ["flag", "allow", "review", "none"]},
          "matches": {"type": "array", "items": {"$ref": "#/components/schemas/VideoMatch"}}
        }
      },
      "ProtoMatchAnswer": {
        "type": "object", "additionalProperties": false, "required": ["decision", "weak", "matches"],
        "description": "format=proto: imprint.v1.MatchResponse (images) or imprint.v1.MatchVideoResponse (videos) of server/proto/imprint/v1/imprint.proto in protobuf's JSON mapping (lowerCamelCase names, every field present)",
        "properties": {
          "pdq": {"type": "string"}, "quality": {"type": "integer"},
          "fps": {"type": "number"}, "duration": {"type": "number"}, "frames": {"type": "integer"},
          "partial": {"type": "boolean"}, "partialReason": {"type": "string"},
          "weak": {"type": "boolean"},
          "decision": {"type": "string", "enum": ["flag", "allow", "review", "none"]},
          "matches": {"type": "array", "items": {"type": "object"}}
        }
      },
      "ProtoTerms": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "permission": {"type": "string", "enum": ["PERMISSION_UNSPECIFIED", "DENY", "ALLOW", "LICENSED"]},
          "licensees": {"type": "array", "items": {"type": "string"}}
        }
      },
      "ProtoLicence": {
        "type": "object", "additionalProperties": false,
        "properties": {
          "aiTraining": {"$ref": "#/components/schemas/ProtoTerms"},
          "commercial": {"$ref": "#/components/schemas/ProtoTerms"},
          "anyUse": {"$ref": "#/components/schemas/ProtoTerms"}
        }
      },
      "ProtoWork": {
        "type": "object", "additionalProperties": false, "required": ["workId", "title", "owner", "media", "registeredAt"],
        "description": "imprint.v1.Work in protobuf's JSON mapping",
        "properties": {
          "workId": {"type": "string"}, "title": {"type": "string"}, "owner": {"type": "string"},
          "media": {"type": "string", "enum": ["image", "video"]},
          "source": {"type": "string"}, "registeredAt": {"type": "string"},
          "sha256": {"type": "string"}, "width": {"type": "integer"}, "height": {"type": "integer"},
          "licence": {"$ref": "#/components/schemas/ProtoLicence"},
          "pageToken": {"type": "string", "description": "listings: page_token continues after this work"},
          "metadata": {"$ref": "#/components/schemas/Metadata"}
        }
      },
      "RegisterWorkAnswer": {
        "type": "object", "additionalProperties": false, "required": ["work"],
        "description": "imprint.v1.RegisterWorkResponse in protobuf's JSON mapping",
        "properties": {
          "work": {"$ref": "#/components/schemas/ProtoWork"},
          "pdq": {"type": "object", "additionalProperties": false, "properties": {"hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"}, "quality": {"type": "integer", "minimum": 0, "maximum": 100}}},
          "frames": {"type": "integer"}, "partial": {"type": "boolean"}, "partialReason": {"type": "string"}
        }
      },
      "WorkPage": {
        "type": "object", "additionalProperties": false, "required": ["works", "nextPageToken"],
        "properties": {
          "works": {"type": "array", "items": {"$ref": "#/components/schemas/ProtoWork"}},
          "nextPageToken": {"type": "string", "description": "pass as page_token for the next page; empty when this page was the last"}
        }
      },
      "ProtoUsageEvent": {
        "type": "object", "additionalProperties": false, "required": ["workId", "decision", "eventId", "pageToken"],
        "description": "imprint.v1.UsageEvent in protobuf's JSON mapping",
        "properties": {
          "workId": {"type": "string"}, "owner": {"type": "string"},
          "decision": {"type": "string", "enum": ["flag", "allow"]},
          "purpose": {"type": "string"}, "caller": {"type": "string"}, "time": {"type": "string"},
          "querySha256": {"type": "string"}, "reference": {"type": "string"}, "distance": {"type": "integer"},
          "eventId": {"type": "string"}, "requestId": {"type": "string"}, "pageToken": {"type": "string"}
        }
      },
      "UsagePage": {
        "type": "object", "additionalProperties": false, "required": ["events", "nextPageToken"],
        "properties": {
          "events": {"type": "array", "items": {"$ref": "#/components/schemas/ProtoUsageEvent"}},
          "nextPageToken": {"type": "string"}
        }
      },
      "Empty": {"type": "object", "additionalProperties": false},
      "CheckMatch": {
        "type": "object", "additionalProperties": false, "required": ["item", "distance", "score", "explanation"],
        "properties": {
          "item": {"type": "string"},
          "distance": {"type": "integer", "nullable": true},
          "score": {"type": "number"},
          "explanation": {"type": "string", "description": "in words, for a person"},
          "url": {"type": "string"},
          "thumbnail": {"type": "string", "description": "a link to the work's stored preview, good for ten minutes"}
        }
      },
      "CheckResult": {
        "type": "object", "additionalProperties": false, "required": ["verdict", "headline", "message", "matches"],
        "properties": {
          "verdict": {"type": "string", "enum": ["copy", "possible", "none", "error"]},
          "headline": {"type": "string"},
          "message": {"type": "string"},
          "matches": {"type": "array", "items": {"$ref": "#/components/schemas/CheckMatch"}}
        }
      }
    }
  },
  "paths": {
    "/api/v1/match": {
      "post": {
        "summary": "Match an upload (image or video bytes) against the catalog",
        "description": "The raw bytes are the body, whatever its Content-Type. A video container is matched as MatchVideo is. Each flag or allow decision is recorded as a usage event, once per API key, idempotency key and work.",
        "security": [{"bearer": []}],
        "parameters": [
          {"$ref": "#/components/parameters/RequestId"},
          {"name": "purpose", "in": "query", "schema": {"type": "string", "enum": ["ai-training", "commercial", "any-use"], "default": "any-use"}},
          {"name": "licensee", "in": "query", "schema": {"type": "string", "maxLength": 256}},
          {"name": "reference", "in": "query", "schema": {"type": "string", "maxLength": 1024}, "description": "the caller's id for the upload, kept in usage events"},
          {"name": "idempotency_key", "in": "query", "schema": {"type": "string", "maxLength": 128}},
          {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 128}, "description": "a retried call with the same key records each work's use once"},
          {"name": "top_k", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 100}},
          {"name": "min_score", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 1}},
          {"name": "name", "in": "query", "schema": {"type": "string", "maxLength": 1024}, "description": "echoed as path"},
          {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["imprint", "proto"], "default": "imprint"}, "description": "imprint: as imprint query --json; proto: the gRPC answer (MatchResponse or MatchVideoResponse) in protobuf's JSON mapping, for clients generated from the proto"}
        ],
        "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {
          "200": {"description": "the matches and the decision", "content": {"application/json": {"schema": {"oneOf": [{"$ref": "#/components/schemas/ImageMatchResult"}, {"$ref": "#/components/schemas/VideoMatchResult"}, {"$ref": "#/components/schemas/ProtoMatchAnswer"}]}}}},
          "400": {"description": "INVALID_ARGUMENT", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "401": {"description": "UNAUTHENTICATED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "403": {"description": "PERMISSION_DENIED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "413": {"description": "RESOURCE_EXHAUSTED: over the message size or the pixel limit", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "429": {"description": "over the key's rate limit; Retry-After says when to come back", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "503": {"description": "server busy or shutting down", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "504": {"description": "DEADLINE_EXCEEDED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "default": {"description": "any other error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/api/v1/works": {
      "post": {
        "summary": "Register a work (RegisterWork)",
        "description": "The body is an imprint.v1.RegisterWorkRequest in protobuf's JSON mapping: work (workId required, title, owner, licence, metadata) and one content: image (base64 bytes), fingerprints, video (base64 bytes) or videoFrames; replace; secondsPerHash. A field the message does not have is refused. A retry with the same id and content answers 200 with the stored work; other content under a taken id is 409 unless replace is set. Needs a registrar key for the owner, or an admin key.",
        "security": [{"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
          "200": {"description": "registered (or registered already, the same)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegisterWorkAnswer"}}}},
          "default": {"$ref": "#/components/responses/CatalogError"}
        }
      },
      "get": {
        "summary": "A page of works in registration order (ListWorks)",
        "security": [{"bearer": []}],
        "parameters": [
          {"$ref": "#/components/parameters/RequestId"},
          {"name": "owner", "in": "query", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
          {"name": "page_token", "in": "query", "schema": {"type": "string"}, "description": "nextPageToken of the page before, in the same order"},
          {"name": "newest_first", "in": "query", "schema": {"type": "boolean", "default": false}}
        ],
        "responses": {
          "200": {"description": "the page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/WorkPage"}}}},
          "default": {"$ref": "#/components/responses/CatalogError"}
        }
      }
    },
    "/api/v1/works/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {
        "summary": "One work (GetWork)",
        "security": [{"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
          "200": {"description": "the work", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProtoWork"}}}},
          "default": {"$ref": "#/components/responses/CatalogError"}
        }
      },
      "delete": {
        "summary": "Remove a work (RemoveWork)",
        "security": [{"bearer": []}],
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "responses": {
          "200": {"description": "removed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Empty"}}}},
          "default": {"$ref": "#/components/responses/CatalogError"}
        }
      }
    },
    "/api/v1/usage": {
      "get": {
        "summary": "A page of usage events, oldest first unless newest_first (ListUsage; admin keys only)",
        "security": [{"bearer": []}],
        "parameters": [
          {"$ref": "#/components/parameters/RequestId"},
          {"name": "work_id", "in": "query", "schema": {"type": "string"}},
          {"name": "owner", "in": "query", "schema": {"type": "string"}},
          {"name": "decision", "in": "query", "schema": {"type": "string", "enum": ["flag", "allow"]}},
          {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339 or YYYY-MM-DD: events at or after it"},
          {"name": "until", "in": "query", "schema": {"type": "string"}, "description": "events before it"},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}},
          {"name": "page_token", "in": "query", "schema": {"type": "string"}, "description": "nextPageToken of the page before, in the same order"},
          {"name": "newest_first", "in": "query", "schema": {"type": "boolean", "default": false}}
        ],
        "responses": {
          "200": {"description": "the page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/UsagePage"}}}},
          "default": {"$ref": "#/components/responses/CatalogError"}
        }
      }
    },
    "/api/v1/check": {
      "post": {
        "summary": "The creators' page check: is this picture in the catalog, in words",
        "description": "Public; limited per client address; takes a call slot like any call. Records no usage.",
        "parameters": [{"$ref": "#/components/parameters/RequestId"}],
        "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": {
          "200": {"description": "the verdict", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckResult"}}}},
          "429": {"description": "too many checks from this address", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckResult"}}}},
          "503": {"description": "every call slot is taken; retry after Retry-After", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckResult"}}}}
        }
      }
    },
    "/api/v1/thumbnail": {
      "get": {
        "summary": "A work's stored preview: by a link a check answer gave (t), or by work id with a registrar or admin key",
        "parameters": [
          {"name": "t", "in": "query", "schema": {"type": "string"}},
          {"name": "id", "in": "query", "schema": {"type": "string"}}
        ],
        "responses": {
          "200": {"description": "the preview", "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
          "401": {"description": "UNAUTHENTICATED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "403": {"description": "PERMISSION_DENIED", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "404": {"description": "NOT_FOUND", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "default": {"description": "429 over the key's rate limit, 503 busy (each with Retry-After)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/api/v1/openapi.json": {
      "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/healthz": {"get": {"summary": "Liveness: the process answers", "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/readyz": {"get": {"summary": "Readiness: the catalog is loaded and caught up", "responses": {
      "200": {"description": "ready", "content": {"text/plain": {"schema": {"type": "string"}}}},
      "503": {"description": "not ready, and why", "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
    "/metrics": {"get": {"summary": "Prometheus text exposition", "responses": {"200": {"description": "metrics", "content": {"text/plain": {"schema": {"type": "string"}}}}}}}
  }
})json";
}

}  // namespace imprint::server
