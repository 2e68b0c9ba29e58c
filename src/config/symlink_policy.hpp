#pragma once

namespace askr::config {

/// Whether files reached through symbolic links may lie outside the document root.
enum class SymlinkPolicy {
    follow,       ///< serve whatever the path resolves to (nginx's default)
    inside_root,  ///< refuse (forbidden) a file whose realpath() is outside the root
};

}  // namespace askr::config
