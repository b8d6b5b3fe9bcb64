// The bundle's files as read-only data of the program. ui_version.h (written
// with the bundle) names its content hash, so a new bundle is a new source
// text for ccache as well as for make.
#include "ui/assets.h"

#include "ui_version.h"

#define PIPE_UI_EMBED(sym, file)                                        \
  asm(".section .rodata\n"                                              \
      ".balign 16\n"                                                    \
      ".local " #sym "\n" #sym ":\n"                                    \
      ".incbin \"" PIPE_UI_DIST "/" file "\"\n"                         \
      ".local " #sym "_end\n" #sym "_end:\n"                            \
      ".previous\n");                                                   \
  extern "C" const char sym[];                                          \
  extern "C" const char sym##_end[]

PIPE_UI_EMBED(pipe_ui_index_html, "index.html");
PIPE_UI_EMBED(pipe_ui_app_js, "app.js");
PIPE_UI_EMBED(pipe_ui_app_css, "app.css");

namespace pipeline {

std::span<const UiAsset> WebUiAssets() {
  static_assert(sizeof(PIPE_UI_VERSION) > 1, "ui_version.h names the bundle");
  static const UiAsset kAssets[] = {
      {"index.html", "text/html; charset=utf-8", {pipe_ui_index_html, pipe_ui_index_html_end}},
      {"app.js", "text/javascript; charset=utf-8", {pipe_ui_app_js, pipe_ui_app_js_end}},
      {"app.css", "text/css; charset=utf-8", {pipe_ui_app_css, pipe_ui_app_css_end}},
  };
  return kAssets;
}

}  // namespace pipeline
