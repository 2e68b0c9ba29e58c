#include "worker/broadcast_stage.hpp"

#include <gtest/gtest.h>

#include <string>

namespace askr::worker {
namespace {

std::string formatted(std::uint64_t id, std::string_view name, std::string_view data) {
    std::string out;
    format_event(id, name, data, out);
    return out;
}

TEST(BroadcastFormat, OneDataLinePerLineOfThePayload) {
    EXPECT_EQ(formatted(7, "", "hello"), "id: 7\ndata: hello\n\n");
    EXPECT_EQ(formatted(8, "price", "a\nb"), "id: 8\nevent: price\ndata: a\ndata: b\n\n");
    // CR LF, CR and LF all end a line in the event-stream format.
    EXPECT_EQ(formatted(9, "", "a\r\nb\rc\n"), "id: 9\ndata: a\ndata: b\ndata: c\ndata: \n\n");
    // An empty payload is still an event (one empty data line).
    EXPECT_EQ(formatted(10, "", ""), "id: 10\ndata: \n\n");
    // A leading space survives: the parser strips only the one after the colon.
    EXPECT_EQ(formatted(11, "", " x"), "id: 11\ndata:  x\n\n");
}

}  // namespace
}  // namespace askr::worker
