#include "static/mime_types.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace askr::static_files {
namespace {

constexpr std::string_view sample = R"(# a comment line
   # an indented comment
text/html			html htm
text/css css   # trailing comment
text/javascript		js mjs
application/x-thing
image/svg+xml svg SVGZ
text/plain txt html
notatype foo
	
application/json	json)";

TEST(MimeTypes, LooksUpByExtension) {
    const MimeTypes table = MimeTypes::from_text(sample);
    EXPECT_EQ(table.lookup("/index.html"), "text/html");
    EXPECT_EQ(table.lookup("/a/b/page.htm"), "text/html");
    EXPECT_EQ(table.lookup("style.css"), "text/css");  // comment after the extension ignored
    EXPECT_EQ(table.lookup("/app.mjs"), "text/javascript");
    EXPECT_EQ(table.lookup("/data.json"), "application/json");  // last line, no newline
    EXPECT_EQ(table.lookup("/logo.svg"), "image/svg+xml");
}

TEST(MimeTypes, IsCaseInsensitive) {
    const MimeTypes table = MimeTypes::from_text(sample);
    EXPECT_EQ(table.lookup("/INDEX.HTML"), "text/html");
    EXPECT_EQ(table.lookup("/Style.Css"), "text/css");
    EXPECT_EQ(table.lookup("/logo.svgz"), "image/svg+xml");  // listed upper-case
}

TEST(MimeTypes, FirstTypeForAnExtensionWins) {
    EXPECT_EQ(MimeTypes::from_text(sample).lookup("x.html"), "text/html");
}

TEST(MimeTypes, UnknownAnswersOctetStream) {
    const MimeTypes table = MimeTypes::from_text(sample);
    for (std::string_view path :
         {"/noext", "/dir.css/noext", "/file.", "/file.unknown", "", "/archive.tar.gz", "/x.foo",
          "/x.thing", "/x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}) {
        EXPECT_EQ(table.lookup(path), MimeTypes::default_type) << path;
    }
    EXPECT_EQ(MimeTypes().lookup("/a.html"), MimeTypes::default_type);
}

TEST(MimeTypes, CountsExtensions) {
    EXPECT_EQ(MimeTypes::from_text(sample).size(), 9u);
    EXPECT_EQ(MimeTypes::from_text("").size(), 0u);
    EXPECT_EQ(MimeTypes::from_text("# only\n\n").size(), 0u);
}

TEST(MimeTypes, LoadsFromFile) {
    char path[] = "/tmp/askr-mime-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path) << "image/webp webp\r\nfont/woff2 woff2\r\n";  // CRLF tolerated
    const std::optional<MimeTypes> table = MimeTypes::from_file(path);
    std::remove(path);
    ASSERT_TRUE(table);
    EXPECT_EQ(table->lookup("/a.webp"), "image/webp");
    EXPECT_EQ(table->lookup("/f.woff2"), "font/woff2");
    EXPECT_FALSE(MimeTypes::from_file("/nonexistent/askr/mime.types"));
}

TEST(MimeTypes, SystemTableKnowsTheWebTypes) {
    const MimeTypes& table = MimeTypes::system();
    EXPECT_EQ(&table, &MimeTypes::system());  // loaded once
    EXPECT_EQ(table.lookup("/index.html"), "text/html");
    EXPECT_EQ(table.lookup("/style.css"), "text/css");
    EXPECT_EQ(table.lookup("/image.png"), "image/png");
    EXPECT_EQ(table.lookup("/mystery.zzzz"), "application/octet-stream");
}

}  // namespace
}  // namespace askr::static_files
