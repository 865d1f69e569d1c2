// Internal: the HTTP side's handling apart from its listening socket. start_http registers these
// functions with cpp-httplib; fuzz/http_request_fuzzer.cc calls them in process with requests it
// makes up (answer_http_request), so the fuzzed code is the code that serves.
#pragma once

#include <httplib.h>

#include <exception>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include "server_impl.h"

namespace imprint::server {

// One route. httplib matches `path` as a regular expression against the whole decoded request
// path; GET routes answer HEAD too. A POST handler gets a reader that hands it the body as it
// arrives (so it can refuse a body before taking it in); a GET handler gets nullptr.
struct HttpRoute {
  std::string method;  // "GET", "POST" or "DELETE"
  std::string path;
  std::regex pattern;  // path, compiled as httplib compiles it
  std::function<void(const httplib::Request&, httplib::Response&, const httplib::ContentReader*)>
      handler;
};

// The routes of this server, in the order they are registered (the creators' page and its
// check only with ServerOptions::public_page).
std::vector<HttpRoute> http_routes(Server::Impl& s);

// Before any route: answers 421 to a request for a Host this server does not answer to and
// returns true; false lets routing go on.
bool http_pre_route(Server::Impl& s, const httplib::Request& req, httplib::Response& res);

// For every answer with an error status: one without a body (httplib's own: no such path, a
// malformed request) gets our JSON error body; returns whether it did. Sets X-Request-Id.
bool http_error_body(Server::Impl& s, const httplib::Request& req, httplib::Response& res);

// A handler that threw (a bug): a 500 with a JSON body, and an access log line.
void http_exception(Server::Impl& s, const httplib::Request& req, httplib::Response& res,
                    std::exception_ptr ep);

// Answers a request that httplib has parsed (method, decoded path, params, headers,
// remote_addr) as start_http's server does: httplib 0.11.4's refusal of a method it does not
// know, the pre-routing check, the first route whose method and pattern match (HEAD as GET), 404
// for none and 400 for a method no route may have, the exception handler, then the error body.
// `body` hands a POST handler the request's body. The request line's and headers' syntax, body
// framing (lengths, chunks, compression, multipart boundaries) and Range and Expect handling are
// httplib's and not repeated here. Returns false when a handler threw.
bool answer_http_request(Server::Impl& s, const std::vector<HttpRoute>& routes,
                         const httplib::Request& req, httplib::Response& res,
                         const httplib::ContentReader& body);

}  // namespace imprint::server
