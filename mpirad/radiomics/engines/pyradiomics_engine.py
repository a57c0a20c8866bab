"""The ``pyradiomics`` engine: the ``pyradiomics-bhklab`` fork (imports as ``radiomics``).

pyradiomics has the families shape (morphology), first order (statistics plus two
intensity-histogram features), GLCM, GLRLM, GLSZM, NGTDM and GLDM (= IBSI NGLDM). It has no
intensity-volume histogram, GLDZM or local intensity features, and only one GLCM/GLRLM
aggregation: features per direction averaged over the 13 directions (IBSI "3D averaged",
ITBB).

Each pyradiomics feature whose definition agrees with IBSI is mapped to its IBSI family,
name and code (:data:`PYRADIOMICS_TO_IBSI`); the others keep their pyradiomics name, their
``ibsi_code`` is empty, and they are listed in :data:`KNOWN_DEVIATIONS` with the reason.
Whether the mapped values match the IBSI reference values is tested on the IBSI digital
phantom (:mod:`mpirad.radiomics.conformance`).

Discretisation: ``n_bins`` is passed as ``binCount`` (equivalent to IBSI fixed bin number);
``bin_width`` as ``binWidth``, whose bins pyradiomics aligns to multiples of the width
rather than to the lower bound of the ROI -- identical to IBSI fixed bin size only when
that bound is a multiple of the width (true for the IBSI phantom: minimum 1, width 1).

Resampling and re-segmentation are done before the engine
(:mod:`mpirad.radiomics.preprocess`; pyradiomics' own ``resampledPixelSpacing`` and
``resegmentRange`` stay off): pyradiomics receives the processed image and the intensity
mask, so after re-segmentation its shape features describe the re-segmented ROI, not the
morphological mask the IBSI prescribes.
"""

from __future__ import annotations

import logging

import numpy as np

from mpirad.radiomics.engines.base import FeatureEngine, FeatureRow, Roi
from mpirad.radiomics.ibsi import AGG_3D, AGG_3D_AVERAGED, AGG_3D_VOLUME
from mpirad.radiomics.settings import ExtractionSettings

#: IBSI families for which pyradiomics has (some) features.
SUPPORTED_FAMILIES: tuple[str, ...] = ("morph", "stat", "ih", "cm", "rlm", "szm", "ngt", "ngl")

_CLASS_FAMILY = {
    "shape": "morph",
    "firstorder": "stat",
    "glcm": "cm",
    "glrlm": "rlm",
    "glszm": "szm",
    "ngtdm": "ngt",
    "gldm": "ngl",
}
_CLASS_AGGREGATION = {
    "shape": AGG_3D,
    "firstorder": AGG_3D,
    "glcm": AGG_3D_AVERAGED,
    "glrlm": AGG_3D_AVERAGED,
    "glszm": AGG_3D_VOLUME,
    "ngtdm": AGG_3D_VOLUME,
    "gldm": AGG_3D_VOLUME,
}

#: ``"class_Feature"`` -> (IBSI family, IBSI name) where the definitions agree.
PYRADIOMICS_TO_IBSI: dict[str, tuple[str, str]] = {
    # shape (mesh-based, as IBSI)
    "shape_MeshVolume": ("morph", "volume"),
    "shape_VoxelVolume": ("morph", "vol_approx"),
    "shape_SurfaceArea": ("morph", "area_mesh"),
    "shape_SurfaceVolumeRatio": ("morph", "av"),
    "shape_Sphericity": ("morph", "sphericity"),
    "shape_Maximum3DDiameter": ("morph", "diam"),
    "shape_MajorAxisLength": ("morph", "pca_maj_axis"),
    "shape_MinorAxisLength": ("morph", "pca_min_axis"),
    "shape_LeastAxisLength": ("morph", "pca_least_axis"),
    "shape_Elongation": ("morph", "pca_elongation"),
    "shape_Flatness": ("morph", "pca_flatness"),
    # first order on raw intensities
    "firstorder_Mean": ("stat", "mean"),
    "firstorder_Variance": ("stat", "var"),
    "firstorder_Skewness": ("stat", "skew"),
    "firstorder_Median": ("stat", "median"),
    "firstorder_Minimum": ("stat", "min"),
    "firstorder_10Percentile": ("stat", "p10"),
    "firstorder_90Percentile": ("stat", "p90"),
    "firstorder_Maximum": ("stat", "max"),
    "firstorder_InterquartileRange": ("stat", "iqr"),
    "firstorder_Range": ("stat", "range"),
    "firstorder_MeanAbsoluteDeviation": ("stat", "mad"),
    "firstorder_RobustMeanAbsoluteDeviation": ("stat", "rmad"),
    "firstorder_Energy": ("stat", "energy"),
    "firstorder_RootMeanSquared": ("stat", "rms"),
    # first order on discretised intensities
    "firstorder_Entropy": ("ih", "entropy"),
    "firstorder_Uniformity": ("ih", "uniformity"),
    # GLCM, averaged over 13 directions
    "glcm_MaximumProbability": ("cm", "joint_max"),
    "glcm_JointAverage": ("cm", "joint_avg"),
    "glcm_SumSquares": ("cm", "joint_var"),
    "glcm_JointEntropy": ("cm", "joint_entr"),
    "glcm_DifferenceAverage": ("cm", "diff_avg"),
    "glcm_DifferenceVariance": ("cm", "diff_var"),
    "glcm_DifferenceEntropy": ("cm", "diff_entr"),
    "glcm_SumAverage": ("cm", "sum_avg"),
    "glcm_SumEntropy": ("cm", "sum_entr"),
    "glcm_JointEnergy": ("cm", "energy"),
    "glcm_Contrast": ("cm", "contrast"),
    "glcm_Id": ("cm", "inv_diff"),
    "glcm_Idn": ("cm", "inv_diff_norm"),
    "glcm_Idm": ("cm", "inv_diff_mom"),
    "glcm_Idmn": ("cm", "inv_diff_mom_norm"),
    "glcm_InverseVariance": ("cm", "inv_var"),
    "glcm_Correlation": ("cm", "corr"),
    "glcm_Autocorrelation": ("cm", "auto_corr"),
    "glcm_ClusterTendency": ("cm", "clust_tend"),
    "glcm_ClusterShade": ("cm", "clust_shade"),
    "glcm_ClusterProminence": ("cm", "clust_prom"),
    "glcm_Imc1": ("cm", "info_corr1"),
    "glcm_Imc2": ("cm", "info_corr2"),
    # GLRLM, averaged over 13 directions
    "glrlm_ShortRunEmphasis": ("rlm", "sre"),
    "glrlm_LongRunEmphasis": ("rlm", "lre"),
    "glrlm_LowGrayLevelRunEmphasis": ("rlm", "lgre"),
    "glrlm_HighGrayLevelRunEmphasis": ("rlm", "hgre"),
    "glrlm_ShortRunLowGrayLevelEmphasis": ("rlm", "srlge"),
    "glrlm_ShortRunHighGrayLevelEmphasis": ("rlm", "srhge"),
    "glrlm_LongRunLowGrayLevelEmphasis": ("rlm", "lrlge"),
    "glrlm_LongRunHighGrayLevelEmphasis": ("rlm", "lrhge"),
    "glrlm_GrayLevelNonUniformity": ("rlm", "glnu"),
    "glrlm_GrayLevelNonUniformityNormalized": ("rlm", "glnu_norm"),
    "glrlm_RunLengthNonUniformity": ("rlm", "rlnu"),
    "glrlm_RunLengthNonUniformityNormalized": ("rlm", "rlnu_norm"),
    "glrlm_RunPercentage": ("rlm", "r_perc"),
    "glrlm_GrayLevelVariance": ("rlm", "gl_var"),
    "glrlm_RunVariance": ("rlm", "rl_var"),
    "glrlm_RunEntropy": ("rlm", "rl_entr"),
    # GLSZM (26-connected zones)
    "glszm_SmallAreaEmphasis": ("szm", "sze"),
    "glszm_LargeAreaEmphasis": ("szm", "lze"),
    "glszm_LowGrayLevelZoneEmphasis": ("szm", "lgze"),
    "glszm_HighGrayLevelZoneEmphasis": ("szm", "hgze"),
    "glszm_SmallAreaLowGrayLevelEmphasis": ("szm", "szlge"),
    "glszm_SmallAreaHighGrayLevelEmphasis": ("szm", "szhge"),
    "glszm_LargeAreaLowGrayLevelEmphasis": ("szm", "lzlge"),
    "glszm_LargeAreaHighGrayLevelEmphasis": ("szm", "lzhge"),
    "glszm_GrayLevelNonUniformity": ("szm", "glnu"),
    "glszm_GrayLevelNonUniformityNormalized": ("szm", "glnu_norm"),
    "glszm_SizeZoneNonUniformity": ("szm", "zsnu"),
    "glszm_SizeZoneNonUniformityNormalized": ("szm", "zsnu_norm"),
    "glszm_ZonePercentage": ("szm", "z_perc"),
    "glszm_GrayLevelVariance": ("szm", "gl_var"),
    "glszm_ZoneVariance": ("szm", "zs_var"),
    "glszm_ZoneEntropy": ("szm", "zs_entr"),
    # NGTDM
    "ngtdm_Coarseness": ("ngt", "coarseness"),
    "ngtdm_Contrast": ("ngt", "contrast"),
    "ngtdm_Busyness": ("ngt", "busyness"),
    "ngtdm_Complexity": ("ngt", "complexity"),
    "ngtdm_Strength": ("ngt", "strength"),
    # GLDM with alpha = 0 is the IBSI NGLDM (dependence counted including the centre voxel)
    "gldm_SmallDependenceEmphasis": ("ngl", "lde"),
    "gldm_LargeDependenceEmphasis": ("ngl", "hde"),
    "gldm_LowGrayLevelEmphasis": ("ngl", "lgce"),
    "gldm_HighGrayLevelEmphasis": ("ngl", "hgce"),
    "gldm_SmallDependenceLowGrayLevelEmphasis": ("ngl", "ldlge"),
    "gldm_SmallDependenceHighGrayLevelEmphasis": ("ngl", "ldhge"),
    "gldm_LargeDependenceLowGrayLevelEmphasis": ("ngl", "hdlge"),
    "gldm_LargeDependenceHighGrayLevelEmphasis": ("ngl", "hdhge"),
    "gldm_GrayLevelNonUniformity": ("ngl", "glnu"),
    "gldm_DependenceNonUniformity": ("ngl", "dcnu"),
    "gldm_DependenceNonUniformityNormalized": ("ngl", "dcnu_norm"),
    "gldm_GrayLevelVariance": ("ngl", "gl_var"),
    "gldm_DependenceVariance": ("ngl", "dc_var"),
    "gldm_DependenceEntropy": ("ngl", "dc_entr"),
}

#: pyradiomics features that are unmapped (not IBSI-equivalent), or mapped but known to
#: deviate numerically, with the reason.
KNOWN_DEVIATIONS: dict[str, str] = {
    "firstorder_Kurtosis": "not excess kurtosis: equals IBSI kurtosis (IPH6) + 3",
    "firstorder_TotalEnergy": "energy scaled by voxel volume; not an IBSI feature",
    "firstorder_StandardDeviation": "not an IBSI feature (square root of IBSI variance)",
    "glcm_MCC": "maximal correlation coefficient: not an IBSI feature",
    "shape_Maximum2DDiameterSlice": "2D diameters are not IBSI features",
    "shape_Maximum2DDiameterColumn": "2D diameters are not IBSI features",
    "shape_Maximum2DDiameterRow": "2D diameters are not IBSI features",
    "shape_MinorAxisLength": (
        "mapped, but principal axes use the population covariance (1/N) where the IBSI uses "
        "1/(N-1): on the phantom 9.24 vs 9.31 (minor) and 8.48 vs 8.54 (least) mm"
    ),
    "shape_LeastAxisLength": "see shape_MinorAxisLength",
    "shape_MajorAxisLength": "see shape_MinorAxisLength (within the IBSI tolerance on the phantom)",
}


class PyradiomicsEngine(FeatureEngine):
    """The ``pyradiomics`` engine (see the module docstring). Unmapped features carry their
    pyradiomics name (e.g. ``"firstorder_Kurtosis"``) and no IBSI code.
    """

    name = "pyradiomics"
    SUPPORTED_FAMILIES = SUPPORTED_FAMILIES

    def compute(
        self, roi: Roi, settings: ExtractionSettings, families: tuple[str, ...]
    ) -> list[FeatureRow]:
        """Compute the features with pyradiomics; its classes are chosen to cover
        ``families``.
        """
        import radiomics
        import SimpleITK as sitk
        from radiomics import featureextractor

        unsupported = [f for f in families if f not in SUPPORTED_FAMILIES]
        if unsupported:
            raise ValueError(f"pyradiomics has no {unsupported} features; use engine='mirp'")
        radiomics.setVerbosity(logging.ERROR)
        logging.getLogger("radiomics").setLevel(logging.ERROR)
        options: dict[str, object] = {"force2D": False, "label": 1, "additionalInfo": False}
        if settings.n_bins is not None:
            options["binCount"] = int(settings.n_bins)
        elif settings.bin_width is not None:
            options["binWidth"] = float(settings.bin_width)
        else:
            settings.require_discretisation(families)
        extractor = featureextractor.RadiomicsFeatureExtractor(**options)
        extractor.disableAllFeatures()
        wanted_classes = {cls for cls, fam in _CLASS_FAMILY.items() if fam in families}
        if "ih" in families:
            wanted_classes.add("firstorder")
        for cls in sorted(wanted_classes):
            extractor.enableFeatureClassByName(cls)
        xyz_spacing = (float(roi.spacing[2]), float(roi.spacing[1]), float(roi.spacing[0]))
        sitk_image = sitk.GetImageFromArray(np.asarray(roi.image, dtype=np.float64))
        sitk_image.SetSpacing(xyz_spacing)
        sitk_mask = sitk.GetImageFromArray(np.asarray(roi.mask, dtype=np.uint8))
        sitk_mask.SetSpacing(xyz_spacing)
        result = extractor.execute(sitk_image, sitk_mask, label=1)
        rows: list[FeatureRow] = []
        for key, value in result.items():
            if not key.startswith("original_"):
                continue
            feature = key[len("original_") :]
            cls = feature.split("_", 1)[0]
            if feature in PYRADIOMICS_TO_IBSI:
                family, name = PYRADIOMICS_TO_IBSI[feature]
            else:
                family, name = _CLASS_FAMILY[cls], feature
            if family in families:
                rows.append((family, name, _CLASS_AGGREGATION[cls], float(value)))
        return rows
