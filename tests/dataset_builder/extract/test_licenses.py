import pytest
from lxml import etree

from biomed.dataset_builder.extract.licenses import license_from_permissions, license_group, normalise_license


@pytest.mark.parametrize(
    "value, name, group",
    [
        ("http://creativecommons.org/licenses/by/2.0", "CC BY 2.0", "commercial"),
        ("https://creativecommons.org/licenses/by-sa/4.0/", "CC BY-SA 4.0", "commercial"),
        ("https://creativecommons.org/licenses/by-nd/4.0/", "CC BY-ND 4.0", "commercial"),
        ("http://creativecommons.org/licenses/by-nc/3.0", "CC BY-NC 3.0", "non_commercial"),
        ("https://creativecommons.org/licenses/by-nc-nd/4.0/", "CC BY-NC-ND 4.0", "non_commercial"),
        ("https://creativecommons.org/licenses/by-nc-sa/4.0/", "CC BY-NC-SA 4.0", "non_commercial"),
        ("http://creativecommons.org/publicdomain/zero/1.0/", "CC0", "commercial"),
        ("http://creativecommons.org/publicdomain/mark/1.0/", "public domain", "commercial"),
        # the License column of the PMC OA file list
        ("CC BY", "CC BY", "commercial"),
        ("CC BY-NC", "CC BY-NC", "non_commercial"),
        ("CC0", "CC0", "commercial"),
        ("NO-CC CODE", "copyright", "other"),
        # licence texts without a URL
        ("distributed under the terms of the Creative Commons Attribution License", "CC BY", "commercial"),
        ("Creative Commons Attribution Non-Commercial License", "CC BY-NC", "non_commercial"),
        ("cc-by-nc-nd", "CC BY-NC-ND", "non_commercial"),
    ],
)
def test_normalise_and_group(value, name, group):
    assert normalise_license(value) == name
    assert license_group(name) == group


def test_unknown_values():
    assert normalise_license("open-access") is None
    assert normalise_license("") is None
    assert license_group(None) == "other"
    assert license_group("Elsevier user license") == "other"


def _permissions(xml):
    return etree.fromstring(
        f'<permissions xmlns:xlink="http://www.w3.org/1999/xlink" '
        f'xmlns:ali="http://www.niso.org/schemas/ali/1.0/">{xml}</permissions>'
    )


def test_license_from_permissions_forms():
    assert license_from_permissions(None) == "copyright"
    assert license_from_permissions(_permissions("<copyright-statement>© 2020 X</copyright-statement>")) == "copyright"
    ali = "<license><ali:license_ref>https://creativecommons.org/licenses/by/4.0/</ali:license_ref></license>"
    assert license_from_permissions(_permissions(ali)) == "CC BY 4.0"
    typed = '<license license-type="cc0"><license-p>Public domain dedication.</license-p></license>'
    assert license_from_permissions(_permissions(typed)) == "CC0"
    # a <license> that names nothing we know is reported (empty string), never guessed
    unknown = '<license license-type="open-access"><license-p>Publisher terms apply.</license-p></license>'
    assert license_from_permissions(_permissions(unknown)) == ""
