#include "http/connection.hpp"

#include <sys/socket.h>

namespace askr::http {

Connection::Connection(Context& context) : context_(context) {
    next = context_.connections;
    if (next) next->prev = this;
    context_.connections = this;
    ++context_.connection_count;
    set_deadline(context_.timeouts.header);
}

Connection::~Connection() {
    if (prev) prev->next = next;
    if (next) next->prev = prev;
    if (context_.connections == this) context_.connections = next;
    --context_.connection_count;
    if (context_.events && !handed_over) context_.events->connection_closed();
    if (context_.draining && context_.connection_count == 0 && context_.on_last_connection_closed) {
        context_.on_last_connection_closed(context_);
    }
}

void Connection::reset_on_close(int socket_fd) {
    const linger reset{.l_onoff = 1, .l_linger = 0};
    ::setsockopt(socket_fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
}

}  // namespace askr::http
