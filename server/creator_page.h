// Internal: the creators' page, one self-contained HTML document.
#pragma once

namespace imprint::server {
extern const char kCreatorPageHtml[];
}
