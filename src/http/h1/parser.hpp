#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "http/limits.hpp"
#include "http/request.hpp"

namespace askr::http::h1 {

/// Bounds on what one request may hold (shared with HTTP/2).
using Limits = http::Limits;

/// Incremental HTTP/1.x request parser: nodejs/http-parser underneath, with Askr's own
/// strict checks on top (RFC 9112): Host required and unique in HTTP/1.1, no
/// Content-Length with Transfer-Encoding, only "chunked" as transfer coding, no control
/// characters in field values, bounded sizes. Input may arrive in slices of any size.
class Parser {
  public:
    enum class Status {
        need_more,        ///< everything given was consumed; the request is not complete
        expect_continue,  ///< headers are complete and the client waits for "100 Continue"
        complete,         ///< a whole request (headers and body) is in the Request
        error,            ///< the request is invalid: answer error_status() and close
    };
    /// What feed() did: its status and how many bytes of the input it used.
    struct Result {
        Status status;
        std::size_t consumed;
    };

    explicit Parser(const Limits& limits);
    ~Parser();
    Parser(const Parser&) = delete;
    Parser& operator=(const Parser&) = delete;

    /// Starts parsing a new request into `request` (cleared first).
    void start(Request& request);
    /// Parses more input. After `complete`, unconsumed bytes belong to the next request.
    Result feed(const char* data, std::size_t length);
    /// Continues after `expect_continue` (the server answered 100 Continue or not).
    void continue_after_expect();
    /// Tells the parser the peer closed the connection (EOF); may complete a request.
    Result finish();
    /// HTTP status that describes the error (400, 413, 414, 431, 501).
    int error_status() const;
    /// A short reason for the error, for the log.
    const char* error_reason() const;
    /// True once the request headers are complete (the body may still be arriving).
    bool headers_complete() const;

    struct State;  ///< http_parser and what the callbacks build (parser.cpp)

  private:
    std::unique_ptr<State> state_;
};

}  // namespace askr::http::h1
