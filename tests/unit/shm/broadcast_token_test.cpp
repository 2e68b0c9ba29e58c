#include "shm/broadcast_token.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace askr::shm {
namespace {

const std::string secret(32, 's');

TEST(BroadcastToken, RoundTripsItsChannelsUntilItExpires) {
    const std::string token = make_broadcast_token(secret, {"private-a", "private-b.7"}, 1000);
    std::vector<std::string> channels;
    ASSERT_EQ(check_broadcast_token(secret, token, 999, channels), TokenCheck::ok);
    EXPECT_EQ(channels, (std::vector<std::string>{"private-a", "private-b.7"}));
    EXPECT_EQ(check_broadcast_token(secret, token, 1000, channels), TokenCheck::expired);
    // Only URL-safe characters: it goes in a query string as it is.
    EXPECT_EQ(token.find_first_not_of(
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
              std::string::npos);
}

TEST(BroadcastToken, ATamperedOrForeignTokenIsRefused) {
    const std::string token = make_broadcast_token(secret, {"private-a"}, 1000);
    std::vector<std::string> channels;
    EXPECT_EQ(check_broadcast_token(std::string(32, 't'), token, 0, channels),
              TokenCheck::bad_signature);
    // Another payload (a later expiry, another channel) under the same signature.
    const std::string other = make_broadcast_token(secret, {"private-b"}, 2000);
    const std::string spliced = other.substr(0, other.find('.')) + token.substr(token.find('.'));
    EXPECT_EQ(check_broadcast_token(secret, spliced, 0, channels), TokenCheck::bad_signature);
    std::string flipped = token;
    flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
    EXPECT_EQ(check_broadcast_token(secret, flipped, 0, channels), TokenCheck::bad_signature);
    EXPECT_EQ(check_broadcast_token(secret, "no-dot", 0, channels), TokenCheck::malformed);
    EXPECT_EQ(check_broadcast_token(secret, "a b.c", 0, channels), TokenCheck::malformed);
    EXPECT_EQ(check_broadcast_token(secret, "", 0, channels), TokenCheck::malformed);
}

}  // namespace
}  // namespace askr::shm
