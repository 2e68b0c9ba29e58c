#include <string>

#include "http/handler.hpp"
#include "http/status.hpp"

namespace askr::http {

void status_page(int status, const Fields& fields, bool close, ResponseHead& head,
                 std::string& body) {
    const std::string code = std::to_string(status);
    const std::string_view reason = reason_phrase(status);
    body.reserve(128);
    body.append("<!DOCTYPE html><html><head><title>").append(code).append(" ").append(reason);
    body.append("</title></head><body><h1>").append(code).append(" ").append(reason);
    body.append("</h1></body></html>\n");
    head.status = status;
    for (std::size_t i = 0; i < fields.size(); ++i)
        head.fields.add(fields.name(i), fields.value(i));
    head.fields.add("Content-Type", "text/html");
    head.content_length = body.size();
    head.close = close;
}

boost::asio::awaitable<bool> respond_with_status(ResponseSink& sink, int status,
                                                 const Fields& fields, bool close) {
    ResponseHead head;
    std::string body;
    status_page(status, fields, close, head, body);
    co_return co_await sink.send(&head, body, true);
}

bool respond_with_status_now(ResponseSink& sink, int status, const Fields& fields, bool close) {
    ResponseHead head;
    std::string body;
    status_page(status, fields, close, head, body);
    return sink.send_now(head, body);
}

}  // namespace askr::http
