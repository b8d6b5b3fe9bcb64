// The web UI's bundle (ui/), linked into piped: what Api serves at / and /ui/.
#pragma once

#include <span>

#include "api/api.h"

namespace pipeline {

// index.html, app.js and app.css; the data lives as long as the program.
std::span<const UiAsset> WebUiAssets();

}  // namespace pipeline
