// The first end-to-end checks: a PHP script and a static file are served, opcache is on.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace askr::test {

TEST(Smoke, ServesPhpWithOpcacheAndStaticFiles) {
    TempDir root;
    root.write("index.php", R"(<?php
        echo php_sapi_name(), "|", json_encode(opcache_get_status(false)['opcache_enabled'] ?? false);)");
    root.write("hello.txt", "hello\n");
    Server server(root.path());
    auto php = get(server.url("/"));
    EXPECT_EQ(php.status, 200);
    EXPECT_EQ(php.body, "askr|true");
    auto file = get(server.url("/hello.txt"));
    EXPECT_EQ(file.status, 200);
    EXPECT_EQ(file.body, "hello\n");
    EXPECT_EQ(file.header("content-type"), "text/plain");
}

}  // namespace askr::test
