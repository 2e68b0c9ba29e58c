#include <gtest/gtest.h>

#include "http/tls/tls_context.hpp"

namespace askr::http::tls {
namespace {

const std::vector<CertificateName> names = {
    {"localhost", 0}, {"shop.test", 1}, {"www.shop.test", 1}, {"*.blog.test", 2}, {"news.blog.test", 3}};

TEST(SelectCertificate, ExactNamesFirstThenAOneLabelWildcard) {
    EXPECT_EQ(select_certificate(names, "shop.test"), 1u);
    EXPECT_EQ(select_certificate(names, "WWW.Shop.TEST"), 1u);
    EXPECT_EQ(select_certificate(names, "news.blog.test"), 3u);  // exact beats wildcard
    EXPECT_EQ(select_certificate(names, "sport.blog.test"), 2u);
    EXPECT_EQ(select_certificate(names, "a.sport.blog.test"), std::nullopt);
    EXPECT_EQ(select_certificate(names, "blog.test"), std::nullopt);
    EXPECT_EQ(select_certificate(names, "other.test"), std::nullopt);
    EXPECT_EQ(select_certificate(names, ""), std::nullopt);
    EXPECT_EQ(select_certificate(names, ".blog.test"), std::nullopt);
}

}  // namespace
}  // namespace askr::http::tls
