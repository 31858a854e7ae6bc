"""FADA facts the model was trained on: prompts, class tables, palette, decoding settings.

Every value here is reproduced EXACTLY (character for character, same order)
from the public FADA repository (github.com/mahmoodphd/FADA, commit 3e83deb):

* ``webapp/constants.py``     prompts, class mappings, keyword tables, palette, inference settings
* ``webapp/inference.py``     detect/segment/keypoint prompt templates, keypoint class set,
                              classify token limit (256), top_p (0.95), stop strings, max side 1024
* ``webapp/class_mapper.py``  organ keywords of the body_full/doppler disambiguation
* ``webapp/intent_parser.py`` chat intent keyword banks and the anatomy -> group table
* ``webapp/output_parser.py`` the 0-1000 coordinate scale

Do not "fix" typos or reorder entries: the keyword tables are matched by
substring in order, and the prompts are the strings the model was fine-tuned on.
``tests/inference/fada/test_constants.py`` pins them against independently pasted
upstream text. Tables are read-only views (tuples / mappingproxy).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# The FADA vocabulary (class names, palette, interpretation fields, coordinate scale)
# lives in core, the ground layer every package may use; the pipeline uses it from there.
from fada_desk.core.vocabulary import (  # noqa: F401  (part of the FADA fact sheet)
    ALL_CLASSES_SORTED,
    CLASS_COLORS,
    COORD_SCALE,
    INTERPRETATION_FIELDS,
    INTERPRETATION_KEYS,
    KEYPOINT_CLASSES,
    RAW_PALETTE,
    class_color,
)

# ---------------------------------------------------------------------------
# Prompts (webapp/constants.py)
# ---------------------------------------------------------------------------

INTERPRET_PROMPT: Final[str] = (
    "Provide a comprehensive clinical interpretation of this fetal ultrasound "
    "image. Identify all visible anatomical structures, describe the fetal "
    "orientation and imaging plane, note any measurable biometric parameters, "
    "estimate the gestational age, assess image quality, evaluate normality, "
    "and provide clinical recommendations. "
    "Return your answer as a JSON object with keys: "
    "anatomical_structures, fetal_orientation, imaging_plane, "
    "biometric_measurements, gestational_age, image_quality, "
    "normality_assessment, clinical_recommendations."
)

CLASSIFY_PROMPT: Final[str] = (
    "Classify this fetal ultrasound image. "
    "What anatomical view or structure does it show? "
    "Return a JSON object with \"label\" as the classification."
)

# ---------------------------------------------------------------------------
# Prompt templates (webapp/inference.py build_*_prompt); {classes} is the
# comma-separated class string, e.g. "Brain, CSP, LV".
# ---------------------------------------------------------------------------

DETECT_PROMPT_TEMPLATE: Final[str] = (
    "Detect all instances of the following anatomical structures in this "
    "fetal ultrasound image: {classes}. "
    'For each detection, return a JSON object with "bbox_2d" as '
    "[x_min, y_min, x_max, y_max] in normalized 0-1000 coordinates "
    'and "label" as the structure name.'
)

SEGMENT_PROMPT_TEMPLATE: Final[str] = (
    "Detect and segment all instances of the following anatomical structures "
    "in this fetal ultrasound image: {classes}. "
    'For each instance, return a JSON object with "bbox_2d" as '
    "[x_min, y_min, x_max, y_max] in normalized 0-1000 coordinates, "
    '"label" as the structure name, '
    'and "mask" as a list of [x, y] polygon vertices in normalized '
    "0-1000 coordinates."
)

KEYPOINT_PROMPT_TEMPLATE: Final[str] = (
    "Detect measurement keypoints for the following structures in this "
    "fetal ultrasound image: {classes}. "
    'For each structure, return a JSON object with "bbox_2d" as '
    "[x_min, y_min, x_max, y_max] in normalized 0-1000 coordinates, "
    '"label" as the structure name, '
    'and "keypoints" as a list of [x, y, visibility] triplets with '
    "x, y in normalized 0-1000 coordinates."
)


def build_detect_prompt(classes: str) -> str:
    return DETECT_PROMPT_TEMPLATE.format(classes=classes)


def build_segment_prompt(classes: str) -> str:
    return SEGMENT_PROMPT_TEMPLATE.format(classes=classes)


def build_keypoint_prompt(classes: str) -> str:
    return KEYPOINT_PROMPT_TEMPLATE.format(classes=classes)


# Keypoint class names: when present in a class string the keypoint prompt is used.


def has_keypoint_classes(classes: str) -> bool:
    """Upstream ``_has_keypoint_classes``: substring test on the class string."""
    return any(kc in classes for kc in KEYPOINT_CLASSES)


# ---------------------------------------------------------------------------
# Classification -> Detection / Segmentation class mapping (webapp/constants.py)
# ---------------------------------------------------------------------------

CLASSIFY_TO_DETECT: Final = MappingProxyType({
    "huvf": "abdomen, arm, head, legs",
    "huvb": "abdomen, arm, head, legs",
    "hdvf": "abdomen, arm, head, legs",
    "hdvb": "abdomen, arm, head, legs",
    "legs": "abdomen, legs",
    "arms": "abdomen, arm",
    "abdomen": "abdomen",
    "Abd_plane": "abdomen, arm",
    "head": "head",
    "BPD_PLANE": "Brain, CSP, LV",
    "FL_PLANE": "legs",
    "NO_PLANE": "abdomen, arm, head, legs",
    "Aorta": "cardiac, thorax",
    "Flows": "artery, liver, stomach, vein",
    "V sign": "cardiac, thorax",
    "X sign": "cardiac, thorax",
    "Other": "abdomen, arm, head, legs",
    "AC_PLANE": "abdomen, arm, head, legs",
    "FL": "legs",
    "liver": "artery, liver, stomach, vein",
})

CLASSIFY_TO_SEGMENT: Final = MappingProxyType({
    "BPD_PLANE": "Brain",
    "Aorta": "cardiac, thorax",
    "Flows": "artery, liver, stomach, vein",
    "V sign": "cardiac, thorax",
    "X sign": "cardiac, thorax",
})

SPECIFIC_CLS_LABELS: Final[frozenset[str]] = frozenset({
    "Aorta", "Flows", "BPD_PLANE", "FL_PLANE", "FL",
    "V sign", "X sign", "liver",
})

# ---------------------------------------------------------------------------
# Keyword-based mapping (ordered specific-first): (keywords, det classes, seg classes)
# ---------------------------------------------------------------------------

KEYWORD_FALLBACK: Final[tuple[tuple[tuple[str, ...], str, str | None], ...]] = (
    (("cerebel", "cervellet", "ventric", "thalm", "bpd",
      "banana", "holopros", "cisterna", "fossa", "csp", "cavum",
      "septum pellucidum", "lateral ventricle"),
     "Brain, CSP, LV", "Brain"),
    (("brain",),
     "Brain, CSP, LV", "Brain"),
    (("cardiac", "thorax", "thorac", "thoric", "thorcic",
      "aort", "heart", "stenos", "chamber", "valve"),
     "cardiac, thorax", "cardiac, thorax"),
    (("fetal head", "fetal_head", "cervix", "cervic", "cervex", "pubic", "symphys",
      "pelvimetr", "angle of progression"),
     "fetal_head, pubic_symphysis", "fetal_head, pubic_symphysis"),
    (("femur", "femoral", "fetal.femur", "fetal-femur"),
     "legs", None),
    (("nasal", "nuchal", "translucen"),
     "NT, nasal_bone, nasal_skin, nasal_tip", "NT"),
    (("crl", "crown", "rump"),
     "B, CRL, H, NB", None),
    (("liver", "stomach", "vein", "artery"),
     "artery, liver, stomach, vein", "artery, liver, stomach, vein"),
    (("abdomen", "abdom"),
     "abdomen", None),
    (("arm",),
     "abdomen, arm", None),
    (("head",),
     "head", None),
    (("leg",),
     "abdomen, legs", None),
)

DEFAULT_DETECT_CLASSES: Final[str] = "abdomen, arm, head, legs"

# ---------------------------------------------------------------------------
# Per-class keyword scoring for interpretation-first mapping
# ---------------------------------------------------------------------------

FIELD_WEIGHTS: Final = MappingProxyType({
    "biometric_measurements": 3.0,
    "imaging_plane": 2.5,
    "anatomical_structures": 1.0,
    "fetal_orientation": 0.5,
    "normality_assessment": 0.5,
    "gestational_age": 0.3,
    "image_quality": 0.0,
    "clinical_recommendations": 0.3,
})

CLASS_KEYWORDS: Final = MappingProxyType({
    "Brain": ("brain", "cerebr", "cerebellum", "cortex", "vermis",
              "falx", "interhemispheric", "cranial", "intracranial",
              "parieto-occipital", "frontal lobe", "occipital"),
    "CSP":   ("septum pellucidum", "cavum", "csp", "midline echo"),
    "LV":    ("lateral ventricle", "ventricl", "choroid plexus",
              "ventriculomegaly"),
    "cardiac": ("heart", "cardiac", "chamber", "four chamber",
                "4-chamber", "valve", "myocard", "atri",
                "foramen ovale", "interventricular", "aort", "aortic"),
    "thorax":  ("thorax", "thorac", "thoric", "thorcic", "chest",
                "lung", "pleural", "rib cage", "diaphragm", "mediastin"),
    "NT":         ("nuchal translucen", "nuchal fold", "nuchal",
                   " nt ", " nt,", "nt_", "nt "),
    "nasal_bone": ("nasal bone", "nasal bridge"),
    "nasal_skin": ("nasal skin",),
    "nasal_tip":  ("nasal tip",),
    "CRL": ("crown-rump", "crown rump", "crl"),
    "B":   (),
    "H":   (),
    "NB":  (),
    "artery":  ("artery", "arter", "umbilical arter"),
    "liver":   ("liver", "hepat"),
    "stomach": ("stomach", "gastric", "stomach bubble"),
    "vein":    ("vein", "venous", "vena cava", "umbilical vein"),
    "fetal_head":       ("cervix", "cervic", "cervical length"),
    "pubic_symphysis":  ("pubic", "symphys", "pelvimetr"),
    "abdomen": ("abdomen", "abdomin", "abdom", "ac_plane"),
    "arm":     ("arm", "upper limb", "humerus"),
    "head":    ("skull", "calvar", "biparietal", "fetal head", "head", "neck"),
    "legs":    ("femur", "femoral", "thigh", "lower limb",
                "lower extremit", "tibia", "legs", "leg "),
})

# (group name, detection classes, segmentation classes or None, compatible secondary groups)
CO_OCCURRENCE_GROUPS: Final[tuple[tuple[str, tuple[str, ...], tuple[str, ...] | None, tuple[str, ...]], ...]] = (
    ("brain",      ("Brain", "CSP", "LV"),                           ("Brain",),                                ("nt_nasal",)),
    ("cardiac",    ("cardiac", "thorax"),                             ("cardiac", "thorax"),                     ()),
    ("nt_nasal",   ("NT", "nasal_bone", "nasal_skin", "nasal_tip"),  ("NT",),                                   ("brain", "crl")),
    ("crl",        ("B", "CRL", "H", "NB"),                          None,                                      ("nt_nasal",)),
    ("doppler",    ("artery", "liver", "stomach", "vein"),            ("artery", "liver", "stomach", "vein"),    ()),
    ("pelvimetry", ("fetal_head", "pubic_symphysis"),                 ("fetal_head", "pubic_symphysis"),         ()),
    ("body_full",  ("abdomen", "arm", "head", "legs"),                None,                                      ()),
    ("femur",      ("legs",),                                         None,                                      ()),
)

GROUP_ALIASES: Final = MappingProxyType({
    "brain":      ("bpd", "biparietal", " hc ", "head circumference",
                   "v sign", "x sign", "trans-thalamic", "trans-cerebellar",
                   "transventricular", "transcerebellar"),
    "crl":        ("first trimester", "dating scan", "embryo",
                   "sagittal profile"),
    "femur":      (" fl ", "femur length", "fl_plane", "fl plane", "fl "),
    "body_full":  ("abdominal circumference", " ac ", "ac_plane",
                   "ac plane", "fetal pose", "body habitus",
                   "no_plane", "no plane"),
    "doppler":    ("doppler", "flow", "waveform", "pulsatility",
                   "resistance index", "stomach bubble",
                   "hepatic", "ductus venosus", "umbilical arter",
                   "umbilical vein"),
    "nt_nasal":   ("first trimester screen", "aneuploidy", "trisomy",
                   "down syndrome"),
    "pelvimetry": ("pelvimetry", "pelvic", "birth canal",
                   "vaginal delivery"),
    "cardiac":    ("echocardiogra", "outflow tract", "aortic arch", "aorta"),
})

PLANE_TO_GROUP: Final = MappingProxyType({
    "trans-thalamic": "brain", "transthalamic": "brain",
    "trans-cerebellar": "brain", "transcerebellar": "brain",
    "transventricular": "brain", "biparietal": "brain",
    "four chamber": "cardiac", "4-chamber": "cardiac",
    "4 chamber": "cardiac", "outflow tract": "cardiac",
    "three vessel": "cardiac", "aortic": "cardiac",
    "nuchal": "nt_nasal",
    "longitudinal view of femur": "femur", "femur length": "femur",
    "abdominal circumference": "body_full", "ac plane": "body_full",
    "crown-rump": "crl", "crown rump": "crl",
    "doppler": "doppler", "waveform": "doppler",
    "abdominal organ": "doppler", "stomach bubble": "doppler",
    "cervical length": "pelvimetry",
})

NEGATIVE_MEASUREMENT_PATTERNS: Final[tuple[str, ...]] = (
    "not measurable", "not visible", "cannot be measured",
    "unable to measure", "not assessed", "not obtained",
    "not clearly", "inadequate",
)

# Biometric weight used instead of 3.0 when a negative pattern is present (class_mapper.py).
DAMPENED_BIOMETRIC_WEIGHT: Final[float] = 0.3

# class_mapper.py: organ keywords that promote "doppler" over a top-ranked "body_full".
ORGAN_KEYWORDS: Final[tuple[str, ...]] = (
    "stomach", "liver", "hepat", "artery", "arter",
    "vein", "venous", "gastric", "ductus",
)

# ---------------------------------------------------------------------------
# Routing group map: informal name -> (det_classes, seg_classes)
# ---------------------------------------------------------------------------

ROUTING_GROUP_MAP: Final = MappingProxyType({
    "brain":      ("Brain, CSP, LV",                          "Brain"),
    "cardiac":    ("cardiac, thorax",                          "cardiac, thorax"),
    "nt_nasal":   ("NT, nasal_bone, nasal_skin, nasal_tip",   "NT"),
    "crl":        ("B, CRL, H, NB",                           None),
    "doppler":    ("artery, liver, stomach, vein",             "artery, liver, stomach, vein"),
    "pelvimetry": ("fetal_head, pubic_symphysis",              "fetal_head, pubic_symphysis"),
    "body_pose":  ("abdomen, arm, head, legs",                 None),
    "femur":      ("legs",                                     None),
    "crl_kp":     ("CRL_KP, ScaleBarKpoints", None),
    "nt_kp":      ("NTKpoints, ScaleBarKpoints", None),
})

# ---------------------------------------------------------------------------
# Inference settings (webapp/constants.py + webapp/inference.py)
# ---------------------------------------------------------------------------

TEMPERATURE: Final[float] = 0.1
MAX_NEW_TOKENS: Final[int] = 1024          # interpret, detect, segment, keypoints
CLASSIFY_MAX_NEW_TOKENS: Final[int] = 256  # classify
TOP_P: Final[float] = 0.95
STOP_STRINGS: Final[tuple[str, ...]] = ("\nassistant\n", "\nassistant")
MAX_IMAGE_SIDE: Final[int] = 1024          # longest side after LANCZOS downscale (never upscaled)


# ---------------------------------------------------------------------------
# Chat intents (webapp/intent_parser.py)
# ---------------------------------------------------------------------------

INTERPRET_KW: Final[tuple[str, ...]] = (
    "interpret", "analyze", "analyse", "describe", "assessment",
    "what do you see", "what is this", "clinical interpretation",
    "examine", "evaluate", "tell me about",
)

DETECT_KW: Final[tuple[str, ...]] = (
    "detect", "find", "locate", "where is", "where are",
    "bounding box", "identify", "show me", "mark", "highlight",
)

SEGMENT_KW: Final[tuple[str, ...]] = (
    "segment", "outline", "contour", "mask", "delineate",
    "boundary", "trace", "polygon",
)

CLASSIFY_KW: Final[tuple[str, ...]] = (
    "classify", "what type", "what view", "which plane",
    "what kind", "categorize", "classification",
)

GREETING_KW: Final[tuple[str, ...]] = (
    "hello", "hi ", "hey", "good morning", "good afternoon",
    "thanks", "thank you",
)

# Informal anatomy names -> ROUTING_GROUP_MAP keys. ORDER IS CRITICAL: substring
# matching, first match wins (compound/multi-word terms before single words).
ANATOMY_TO_GROUP: Final = MappingProxyType({
    "nt keypoint": "nt_kp",
    "nt kp": "nt_kp",
    "nuchal keypoint": "nt_kp",
    "ntkpoint": "nt_kp",
    "brain keypoint": "brain",
    "cardiac keypoint": "cardiac",
    "fetal head": "pelvimetry", "fetal_head": "pelvimetry",
    "angle of progression": "pelvimetry",
    "keypoint": "crl_kp", "kpoint": "crl_kp",
    "scalebar": "crl_kp", "scale bar": "crl_kp",
    "crl_kp": "crl_kp", "scalebarpoint": "crl_kp",
    "brain": "brain", "cerebral": "brain", "cerebellum": "brain",
    "ventricle": "brain", "thalami": "brain", "bpd": "brain",
    "head circumference": "brain",
    "csp": "brain", "cavum": "brain", "septum pellucidum": "brain",
    "lv": "brain", "lateral ventricle": "brain",
    "choroid plexus": "brain", "falx": "brain",
    "heart": "cardiac", "cardiac": "cardiac", "thorax": "cardiac",
    "thoracic": "cardiac", "aorta": "cardiac", "four chamber": "cardiac",
    "cardic": "cardiac", "cariac": "cardiac",
    "nuchal": "nt_nasal", "nasal": "nt_nasal",
    "translucency": "nt_nasal", "nasal bone": "nt_nasal",
    "nasal tip": "nt_nasal", "nasal skin": "nt_nasal",
    "nuchel": "nt_nasal", "translucen": "nt_nasal",
    "crown-rump": "crl", "crown rump": "crl", "crl": "crl",
    "doppler": "doppler", "flow": "doppler", "vessel": "doppler",
    "artery": "doppler", "vein": "doppler", "umbilical": "doppler",
    "cervix": "pelvimetry", "pelvimetry": "pelvimetry",
    "symphysis": "pelvimetry", "pubic": "pelvimetry",
    "symphsis": "pelvimetry", "symphis": "pelvimetry",
    "pelvimtry": "pelvimetry",
    "body": "body_pose", "abdomen": "body_pose", "arm": "body_pose",
    "legs": "body_pose", "pose": "body_pose",
    "abdomin": "body_pose",
    "femur": "femur", "thigh": "femur", "femor": "femur",
})
